//! Shared by the fuzz targets: the integration tests' setup (signed packages,
//! the simulated flash, [`common::Device`]) and seed corpora written by code.

#[path = "../../crates/update/tests/common/mod.rs"]
pub mod common;

use std::path::Path;

/// Writes `seeds` into the corpus directory named by `BELLJAR_FUZZ_SEEDS`
/// (set by `scripts/fuzz`), as `seed-N`, before libFuzzer reads it. Without
/// the variable nothing is written.
pub fn write_seeds(seeds: impl IntoIterator<Item = Vec<u8>>) {
    let Some(dir) = std::env::var_os("BELLJAR_FUZZ_SEEDS") else {
        return;
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("corpus directory");
    for (i, seed) in seeds.into_iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}")), seed).expect("seed written");
    }
}
