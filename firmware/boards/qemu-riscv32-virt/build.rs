//! Build-time settings of the QEMU RISC-V firmware, from environment variables (the
//! board has no file system and no command line): see
//! `device/build/settings.rs` for the list. They end up as constants in
//! `$OUT_DIR/settings.rs`; `memory.x` is copied next to them (RAM length
//! from `BELLJAR_RAM`).

#[path = "../../device/build/settings.rs"]
mod settings;

fn main() {
    settings::memory_x();
    settings::riscv_rt_link();
    settings::write(&settings::rust_source());
}
