//! Build-time settings of the ESP32-C6-DevKitC-1 firmware (see
//! `device/build/settings.rs`): the guest to embed (`BELLJAR_GUEST`), limits
//! and heap size. The memory layout is esp-hal's (`linkall.x`: its
//! `memory.x`, the ESP-IDF image's segments), with `belljar.x` after it for
//! the RAM symbols `belljar_device::ram` reads. `BELLJAR_PRESS` and
//! `BELLJAR_RAM` have no effect here: buttons are real, and RAM is what
//! esp-hal's layout gives the app.

#[path = "../../device/build/settings.rs"]
mod settings;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-search={dir}");
    println!("cargo:rustc-link-arg-bins=-Tlinkall.x");
    println!("cargo:rustc-link-arg-bins=-Tbelljar.x");
    println!("cargo:rerun-if-changed=belljar.x");
    for ignored in ["BELLJAR_PRESS", "BELLJAR_RAM"] {
        if settings::var(ignored).is_some() {
            println!("cargo:warning={ignored} is ignored on the ESP32-C6");
        }
    }
    settings::write(&settings::rust_source());
}
