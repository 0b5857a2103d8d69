/* Echoes UART input for a terminal: BS or DEL erase the previous character
 * (BS, space, BS); CR or LF become CR LF; everything else is echoed as is. */
#include "uart_echo.h"

#define BS 0x08
#define DEL 0x7f

static void write(const uint8_t *bytes, size_t len) {
  for (size_t i = 0; i < len; i++) {
    embedded_platform_uart_write_byte(bytes[i]);
  }
}

void exports_uart_echo_run(void) {
  static const uint8_t erase[] = {BS, ' ', BS};
  static const uint8_t newline[] = {'\r', '\n'};
  for (;;) {
    uint8_t byte = embedded_platform_uart_read_byte();
    switch (byte) {
    case BS:
    case DEL:
      write(erase, sizeof erase);
      break;
    case '\r':
    case '\n':
      write(newline, sizeof newline);
      break;
    default:
      embedded_platform_uart_write_byte(byte);
    }
  }
}
