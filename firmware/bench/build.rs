//! The speed bench firmware's build: the QEMU board's memory map with 1 MiB
//! of RAM (a bench tool: wasmi and the kernels get room), and the speed
//! guest's core module from `BELLJAR_SPEED_WASM` (empty when unset: the
//! firmware then runs only the native kernels and says so).

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let board = std::fs::read_to_string("../boards/qemu-mps2-an505/memory.x").unwrap();
    let ram = board
        .lines()
        .find(|l| l.trim_start().starts_with("RAM "))
        .expect("memory.x has a RAM line");
    let origin = ram.split(',').next().unwrap();
    let memory_x = board.replace(ram, &format!("{origin}, LENGTH = 1M"));
    std::fs::write(out.join("memory.x"), memory_x).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=../boards/qemu-mps2-an505/memory.x");
    println!("cargo:rerun-if-env-changed=BELLJAR_SPEED_WASM");
    // The board's UART driver has supervisor-only parts.
    println!("cargo:rustc-check-cfg=cfg(belljar_supervisor)");
    let wasm = match std::env::var_os("BELLJAR_SPEED_WASM") {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            std::fs::read(&path)
                .unwrap_or_else(|e| panic!("BELLJAR_SPEED_WASM={}: {e}", path.display()))
        }
        None => Vec::new(),
    };
    std::fs::write(out.join("speed.wasm"), wasm).unwrap();
}
