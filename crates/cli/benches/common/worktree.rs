//! A detached git worktree of an older commit, for benches that measure it
//! beside the current checkout in the same run.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A detached git worktree of an older commit in a temporary directory,
/// removed when dropped (also when the measurement panics).
pub struct Worktree {
    pub commit: &'static str,
    pub dir: PathBuf,
    /// Its own target dir, kept between runs: only the local crates rebuild
    /// next time (the checkout is fresh), not Wasmtime.
    pub target_dir: PathBuf,
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn git(args: &[&str]) -> std::process::Output {
    Command::new("git")
        .arg("-C")
        .arg(repo())
        .args(args)
        .output()
        .expect("cannot run git")
}

impl Worktree {
    /// Checks out `commit`; `use_` names the target dir (`<use_>-<commit>`).
    pub fn add(commit: &'static str, use_: &str) -> Worktree {
        // A fixed path: the firmware's panic messages embed source paths,
        // so a path that changed from run to run would change the ELF's
        // layout and its instruction counts by a few hundred. A worktree
        // left there by a killed run is replaced.
        let dir = std::env::temp_dir().join(format!("belljar-{use_}-{commit}"));
        if dir.exists() {
            let _ = git(&["worktree", "remove", "--force", dir.to_str().unwrap()]);
            let _ = std::fs::remove_dir_all(&dir);
        }
        let _ = git(&["worktree", "prune"]);
        let out = git(&[
            "worktree",
            "add",
            "--detach",
            dir.to_str().expect("UTF-8 temp dir"),
            commit,
        ]);
        assert!(
            out.status.success(),
            "git worktree add {commit} failed (a shallow clone may lack the commit): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("target"))
            .join(format!("{use_}-{commit}"));
        Worktree {
            commit,
            dir,
            target_dir,
        }
    }

    /// `cargo` in the worktree's `subdir`, with its own target dir and no
    /// RUSTFLAGS of this build.
    pub fn cargo(&self, subdir: &str) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(self.dir.join(subdir))
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS");
        cmd
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let removed = git(&["worktree", "remove", "--force", self.dir.to_str().unwrap()]);
        if !removed.status.success() {
            let _ = std::fs::remove_dir_all(&self.dir);
            let _ = git(&["worktree", "prune"]);
        }
    }
}
