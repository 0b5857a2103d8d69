//! Build-time settings of the Pico 2 firmware (see
//! `device/build/settings.rs`): the guest to embed (`BELLJAR_GUEST`), limits,
//! heap and RAM sizes. `BELLJAR_PRESS` has no effect here: buttons are real.
//! The memory layout is the Arm one (`memory.x`, for cortex-m-rt) or the
//! RISC-V one (`memory-riscv.x`, for riscv-rt), by target.

#[path = "../../device/build/settings.rs"]
mod settings;

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("riscv32") {
        settings::memory_x_from("memory-riscv.x");
        settings::riscv_rt_link();
    } else {
        settings::memory_x();
    }
    if settings::var("BELLJAR_PRESS").is_some() {
        println!("cargo:warning=BELLJAR_PRESS is ignored on the RP2350: its buttons are real");
    }
    settings::write(&settings::rust_source());
}
