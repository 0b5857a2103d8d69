//! Build-time settings of the nRF52840 DK firmware (see
//! `device/build/settings.rs`): the guest to embed (`BELLJAR_GUEST`), limits,
//! heap and RAM sizes. `BELLJAR_PRESS` has no effect here: buttons are real.

#[path = "../../device/build/settings.rs"]
mod settings;

fn main() {
    settings::memory_x();
    if settings::var("BELLJAR_PRESS").is_some() {
        println!("cargo:warning=BELLJAR_PRESS is ignored on the nRF52840: its buttons are real");
    }
    settings::write(&settings::rust_source());
}
