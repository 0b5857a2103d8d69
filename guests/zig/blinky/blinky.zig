//! Blinks the LED on pin 25: 500 ms on, 500 ms off, forever.
const world = @import("blinky");

const led = 25;
const half_period_ms = 500;

export fn exports_blinky_run() void {
    while (true) {
        world.embedded_platform_gpio_set_high(led);
        world.embedded_platform_timing_delay_ms(half_period_ms);
        world.embedded_platform_gpio_set_low(led);
        world.embedded_platform_timing_delay_ms(half_period_ms);
    }
}
