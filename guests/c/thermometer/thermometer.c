/* A thermometer: reads a TMP105/LM75 at 0x48 on bus `i2c0` once a second
 * through wasi:i2c, as guests/thermometer does with the lm75 driver crate.
 * The reading is logged; the LED (pin 25) is on while it is above 30 C. A
 * sensor that does not answer is logged and retried: the app keeps running.
 * The log lines are the Rust app's, word for word. */
#include <stdlib.h>

#include "device.h"

#define LED 25
#define SENSOR 0x48
#define TEMPERATURE_REGISTER 0x00
/* 30 C in the eighths of a degree the conversion below works in. */
#define THRESHOLD_EIGHTHS (30 * 8)

/* A small text buffer: no libc, so no snprintf. */
typedef struct {
  char text[96];
  size_t len;
} line_t;

static void put(line_t *line, const char *s) {
  while (*s && line->len < sizeof line->text - 1) line->text[line->len++] = *s++;
  line->text[line->len] = 0;
}

static void put_uint(line_t *line, unsigned value) {
  char digits[10];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value);
  char one[2] = {0, 0};
  while (n) {
    one[0] = digits[--n];
    put(line, one);
  }
}

/* An error code as the Rust app's `{e:?}` shows it. */
static void put_error(line_t *line, const wasi_i2c_i2c_error_code_t *e) {
  switch (e->tag) {
  case WASI_I2C_I2C_ERROR_CODE_BUS: put(line, "ErrorCode::Bus"); break;
  case WASI_I2C_I2C_ERROR_CODE_ARBITRATION_LOSS: put(line, "ErrorCode::ArbitrationLoss"); break;
  case WASI_I2C_I2C_ERROR_CODE_NO_ACKNOWLEDGE:
    put(line, "ErrorCode::NoAcknowledge(NoAcknowledgeSource::");
    switch (e->val.no_acknowledge) {
    case WASI_I2C_I2C_NO_ACKNOWLEDGE_SOURCE_ADDRESS: put(line, "Address"); break;
    case WASI_I2C_I2C_NO_ACKNOWLEDGE_SOURCE_DATA: put(line, "Data"); break;
    default: put(line, "Unknown"); break;
    }
    put(line, ")");
    break;
  case WASI_I2C_I2C_ERROR_CODE_OVERRUN: put(line, "ErrorCode::Overrun"); break;
  default: put(line, "ErrorCode::Other"); break;
  }
}

static void log_line(embedded_platform_log_level_t level, const line_t *line) {
  device_string_t message;
  device_string_set(&message, line->text);
  embedded_platform_log_log(level, &message);
}

/* The register's two bytes as eighths of a degree: the MSB is the signed
 * whole degrees, bit 7 of the LSB half a degree (the LM75's 9 bits). */
static int eighths_of(uint8_t msb, uint8_t lsb) {
  return (int8_t)msb * 8 + ((lsb & 0x80) >> 5);
}

void exports_device_run(void) {
  device_string_t name;
  device_string_set(&name, "i2c0");
  embedded_platform_buses_own_i2c_t bus;
  wasi_i2c_i2c_error_code_t err;
  if (!embedded_platform_buses_open_i2c(&name, &bus, &err)) {
    line_t line = {0};
    put(&line, "no I2C bus i2c0: ");
    put_error(&line, &err);
    log_line(EMBEDDED_PLATFORM_LOG_LEVEL_ERROR, &line);
    return;
  }
  wasi_i2c_i2c_borrow_i2c_t sensor = wasi_i2c_i2c_borrow_i2c(bus);
  uint8_t reg = TEMPERATURE_REGISTER;
  for (;;) {
    device_list_u8_t write = {&reg, 1};
    device_list_u8_t read;
    line_t line = {0};
    if (wasi_i2c_i2c_method_i2c_write_read(sensor, SENSOR, &write, 2, &read, &err)) {
      if (read.len < 2) abort();
      int eighths = eighths_of(read.ptr[0], read.ptr[1]);
      device_list_u8_free(&read);
      /* Tenths of a degree, truncated toward zero as the Rust app's
       * `(celsius * 10.0) as i32`. */
      int tenths = eighths * 10 / 8;
      unsigned magnitude = (unsigned)(tenths < 0 ? -tenths : tenths);
      put(&line, "temperature ");
      if (tenths < 0) put(&line, "-");
      put_uint(&line, magnitude / 10);
      put(&line, ".");
      put_uint(&line, magnitude % 10);
      put(&line, " C");
      log_line(EMBEDDED_PLATFORM_LOG_LEVEL_INFO, &line);
      if (eighths > THRESHOLD_EIGHTHS) {
        embedded_platform_gpio_set_high(LED);
      } else {
        embedded_platform_gpio_set_low(LED);
      }
    } else {
      put(&line, "sensor did not answer: ");
      put_error(&line, &err);
      log_line(EMBEDDED_PLATFORM_LOG_LEVEL_WARN, &line);
    }
    embedded_platform_timing_delay_ms(1000);
  }
}
