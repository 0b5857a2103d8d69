//! `cfg(belljar_msplim)`: the core has a main stack limit register (MSPLIM,
//! Armv8-M Mainline: the Cortex-M33 boards). Elsewhere (Armv7E-M such as the
//! Cortex-M4F, RISC-V) fiber stacks are guarded by guard words (`stacks`).

fn main() {
    println!("cargo:rustc-check-cfg=cfg(belljar_msplim)");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv8m.main") {
        println!("cargo:rustc-cfg=belljar_msplim");
    }
}
