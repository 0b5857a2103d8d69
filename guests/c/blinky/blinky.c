/* Blinks the LED on pin 25: 500 ms on, 500 ms off, forever. */
#include "blinky.h"

#define LED 25
#define HALF_PERIOD_MS 500

void exports_blinky_run(void) {
  for (;;) {
    embedded_platform_gpio_set_high(LED);
    embedded_platform_timing_delay_ms(HALF_PERIOD_MS);
    embedded_platform_gpio_set_low(LED);
    embedded_platform_timing_delay_ms(HALF_PERIOD_MS);
  }
}
