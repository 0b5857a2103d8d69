//! `belljar new <dir>`: a new app crate that builds and runs from anywhere.
//!
//! The app depends on the SDK crate `belljar-guest` by path, in the app's
//! own `sdk/belljar-guest/`: this `belljar` writes the SDK and the WIT
//! contract it was built with into the new crate (they are compiled into
//! the CLI), so the app needs no checkout of the belljar repository and
//! nothing but crates.io. The SDK's sources are the very files of
//! `guests/support` and `wit/`; only its manifest's workspace-inherited
//! fields are spelled out.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The SDK crate and the contract, as this `belljar` carries them.
const SDK_FILES: &[(&str, &str)] = &[
    (
        "src/lib.rs",
        include_str!("../../../guests/support/src/lib.rs"),
    ),
    (
        "src/hal.rs",
        include_str!("../../../guests/support/src/hal.rs"),
    ),
    (
        "wit/platform.wit",
        include_str!("../../../wit/platform.wit"),
    ),
    (
        "wit/peripherals.wit",
        include_str!("../../../wit/peripherals.wit"),
    ),
    (
        "wit/deps/README.md",
        include_str!("../../../wit/deps/README.md"),
    ),
    (
        "wit/deps/wasi-i2c/i2c.wit",
        include_str!("../../../wit/deps/wasi-i2c/i2c.wit"),
    ),
    (
        "wit/deps/wasi-i2c/delay.wit",
        include_str!("../../../wit/deps/wasi-i2c/delay.wit"),
    ),
    (
        "wit/deps/wasi-i2c/world.wit",
        include_str!("../../../wit/deps/wasi-i2c/world.wit"),
    ),
    (
        "wit/deps/wasi-spi/spi.wit",
        include_str!("../../../wit/deps/wasi-spi/spi.wit"),
    ),
    (
        "wit/deps/wasi-spi/world.wit",
        include_str!("../../../wit/deps/wasi-spi/world.wit"),
    ),
];

const SDK_MANIFEST: &str = include_str!("../../../guests/support/Cargo.toml");
const GUESTS_MANIFEST: &str = include_str!("../../../guests/Cargo.toml");

/// The SDK's `Cargo.toml` for a crate outside the guests workspace: the
/// workspace-inherited fields filled in from the guests workspace.
pub fn sdk_manifest() -> Result<String> {
    let wit_bindgen = GUESTS_MANIFEST
        .lines()
        .find_map(|l| l.strip_prefix("wit-bindgen = "))
        .context("guests/Cargo.toml names no wit-bindgen")?;
    let wit_bindgen = wit_bindgen.replacen('{', "{ optional = true,", 1);
    let fields = [
        ("edition.workspace = true", "edition = \"2024\""),
        (
            "version.workspace = true",
            concat!("version = \"", env!("CARGO_PKG_VERSION"), "\""),
        ),
        ("license.workspace = true", "license = \"Apache-2.0\""),
    ];
    let mut manifest = SDK_MANIFEST.to_string();
    for (inherited, own) in fields {
        manifest = manifest.replace(inherited, own);
    }
    manifest = manifest.replace(
        "wit-bindgen = { workspace = true, optional = true }",
        &format!("wit-bindgen = {wit_bindgen}"),
    );
    if manifest.contains("workspace = true") {
        bail!("the SDK manifest inherits a field `belljar new` does not fill in");
    }
    Ok(manifest)
}

/// The new app's manifest: its own workspace, the SDK by path, release
/// settings as belljar's examples have them.
fn app_manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
# The belljar app SDK (written by `belljar new`; the WIT contract is in
# sdk/belljar-guest/wit). `device` brings the board interfaces and
# embedded-hal 1.0 on them: add driver crates from crates.io as usual.
belljar-guest = {{ path = "sdk/belljar-guest", features = ["device"] }}
embedded-hal = "1.0"

# Linear memory and shadow stack of the app (bytes); see `belljar build`.
[package.metadata.belljar]
memory = 16384
stack = 4096

# What the app may touch: `belljar run` grants exactly this (a pin, bus or
# device it does not list traps, as on a device), `belljar sign` puts it in
# the signed package. Keys: outputs, inputs, analog (numbers), i2c
# ("bus:address"), spi (device names).
[package.metadata.belljar.capabilities]
outputs = [25]

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"

# An app is its own workspace, wherever it lives.
[workspace]
"#
    )
}

fn app_source(name: &str) -> String {
    format!(
        r#"//! {name}: a belljar app. Build it with `belljar build .`, run it on the
//! simulated board with `belljar run . --for 5s`.
#![no_std]

use belljar_guest::hal::{{Delay, Output}};
use belljar_guest::log;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;

/// The Pico 2's LED.
const LED: u32 = 25;

struct App;

impl belljar_guest::Guest for App {{
    fn run() {{
        log::log(log::Level::Info, "{name} started");
        let mut led = Output(LED);
        let mut delay = Delay;
        loop {{
            let _ = led.set_high();
            delay.delay_ms(500);
            let _ = led.set_low();
            delay.delay_ms(500);
        }}
    }}
}}

belljar_guest::export!(App);
"#
    )
}

/// A crate name from a directory name (Cargo's rules: letters, digits,
/// `-` and `_`, not starting with a digit).
fn crate_name(dir: &Path) -> Result<String> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("give the new app a directory name, e.g. `belljar new my-app`")?;
    let valid = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if !valid {
        bail!(
            "`{name}` cannot name a crate: use letters, digits, `-` and `_`, starting with a letter"
        );
    }
    Ok(name.to_lowercase())
}

/// Creates the app crate at `dir` (which must not exist or be empty);
/// returns the files written.
pub fn create(dir: &Path) -> Result<Vec<PathBuf>> {
    let name = crate_name(dir)?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} exists and is not empty; choose a new directory",
            dir.display()
        );
    }
    let sdk = Path::new("sdk/belljar-guest");
    let mut files: Vec<(PathBuf, String)> = vec![
        ("Cargo.toml".into(), app_manifest(&name)),
        ("src/lib.rs".into(), app_source(&name)),
        (".gitignore".into(), "/target\n".into()),
        (sdk.join("Cargo.toml"), sdk_manifest()?),
    ];
    files.extend(
        SDK_FILES
            .iter()
            .map(|(path, text)| (sdk.join(path), (*text).to_string())),
    );
    let mut written = Vec::new();
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("files are in a directory"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_manifest_stands_alone() {
        let manifest = sdk_manifest().unwrap();
        assert!(!manifest.contains("workspace"), "{manifest}");
        assert!(manifest.contains("edition = \"2024\""));
        assert!(manifest.contains("wit-bindgen = { optional = true, version = \"0.63\""));
    }

    #[test]
    fn crate_names_follow_cargo() {
        assert_eq!(crate_name(Path::new("/tmp/My-App")).unwrap(), "my-app");
        assert!(crate_name(Path::new("/tmp/1app")).is_err());
        assert!(crate_name(Path::new("/tmp/my app")).is_err());
    }
}
