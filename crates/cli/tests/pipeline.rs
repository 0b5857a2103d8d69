//! `belljar build` on a fresh guest crate outside this repository: target
//! directory, RUSTFLAGS isolation, rebuilds on source and WIT changes, and the
//! errors a user meets first.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn belljar(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_belljar"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn last_error(o: &Output) -> String {
    assert!(!o.status.success());
    stderr(o)
        .lines()
        .rfind(|l| l.starts_with("error:"))
        .unwrap_or("")
        .to_string()
}

/// A standalone guest crate, as a user would write one.
struct Guest {
    dir: PathBuf,
}

impl Guest {
    fn new(tag: &str) -> Guest {
        let dir =
            std::env::temp_dir().join(format!("belljar-pipeline-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::create_dir_all(dir.join("wit")).unwrap();
        let support = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../guests/support")
            .canonicalize()
            .unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                r#"[package]
name = "pinger"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
wit-bindgen = {{ version = "0.63", default-features = false, features = ["macros"] }}
belljar-guest = {{ path = "{}" }}

[workspace]
"#,
                support.display()
            ),
        )
        .unwrap();
        let g = Guest { dir };
        g.wit("interface gpio { set-high: func(pin: u32); }\nworld pinger { import gpio; export run: func(); }");
        g.code(5);
        g
    }

    fn wit(&self, body: &str) {
        std::fs::write(
            self.dir.join("wit/world.wit"),
            format!("package embedded:platform;\n{body}\n"),
        )
        .unwrap();
    }

    fn code(&self, pin: u32) {
        std::fs::write(
            self.dir.join("src/lib.rs"),
            format!(
                r#"#![no_std]
use belljar_guest as _;
wit_bindgen::generate!({{ world: "pinger", path: "wit" }});
struct P;
impl Guest for P {{ fn run() {{ embedded::platform::gpio::set_high({pin}); }} }}
export!(P);
"#
            ),
        )
        .unwrap();
    }

    fn run(&self, env: &[(&str, &str)]) -> Output {
        belljar(&self.dir, &["run", "."], env)
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_user_crate_builds_with_its_own_target_dir_and_rebuilds_on_changes() {
    let guest = Guest::new("user");
    let target = guest.dir.join("elsewhere");
    let target_env = ("CARGO_TARGET_DIR", target.to_str().unwrap());
    // A host-side RUSTFLAGS that would break the wasm link if it leaked.
    let hostile = ("RUSTFLAGS", "-Clink-arg=--no-such-linker-flag");

    let o = guest.run(&[target_env, hostile]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("gpio.set-high(5)"), "{}", stdout(&o));
    assert!(target.join("belljar/pinger.pulley64.cwasm").is_file());
    assert!(
        target
            .join("wasm32-unknown-unknown/release/pinger.wasm")
            .is_file()
    );
    assert!(
        !guest.dir.join("target").exists(),
        "CARGO_TARGET_DIR was ignored"
    );

    // A source change is picked up.
    guest.code(7);
    let o = guest.run(&[target_env]);
    assert!(
        stdout(&o).contains("gpio.set-high(7)"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );

    // A WIT change is picked up: without `gpio` the code no longer compiles.
    guest.wit("world pinger { export run: func(); }");
    let o = guest.run(&[target_env]);
    assert_eq!(
        last_error(&o),
        "error: guest crate `pinger` failed to compile (cargo's errors are above)"
    );
}

#[test]
fn a_missing_wasm_target_says_which_rustup_command_to_run() {
    let guest = Guest::new("notarget");
    // A toolchain whose sysroot lacks wasm32-unknown-unknown.
    let fake = guest.dir.join("fake-rustc");
    let sysroot = guest.dir.join("sysroot/lib/rustlib");
    std::fs::create_dir_all(&sysroot).unwrap();
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --print ] && [ \"$2\" = sysroot ]; then echo {}; else exec rustc \"$@\"; fi\n",
            guest.dir.join("sysroot").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = belljar(
        &guest.dir,
        &["build", "."],
        &[("RUSTC", fake.to_str().unwrap())],
    );
    assert_eq!(
        last_error(&o),
        "error: the Rust target wasm32-unknown-unknown is not installed; run: rustup target add wasm32-unknown-unknown"
    );
}

#[test]
fn a_directory_without_a_crate_is_refused() {
    let dir = std::env::temp_dir().join(format!("belljar-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let o = belljar(&dir, &["build", "."], &[]);
    assert!(
        last_error(&o).contains("is not a guest crate: no Cargo.toml there"),
        "{}",
        stderr(&o)
    );
}
