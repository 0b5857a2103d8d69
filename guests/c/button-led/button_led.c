/* The LED on pin 25 follows the button on pin 15, polled every 10 ms. */
#include "button_led.h"

#define LED 25
#define BUTTON 15
#define POLL_MS 10

void exports_button_led_run(void) {
  for (;;) {
    if (embedded_platform_button_is_pressed(BUTTON)) {
      embedded_platform_gpio_set_high(LED);
    } else {
      embedded_platform_gpio_set_low(LED);
    }
    embedded_platform_timing_delay_ms(POLL_MS);
  }
}
