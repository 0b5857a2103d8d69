//! The belljar engine profile: the single source of truth for how Wasmtime is
//! configured, used both by `belljar build` (precompiling to Pulley bytecode)
//! and by every runtime (desktop simulator, firmware).
//!
//! A `.cwasm` only deserializes on an engine whose settings match the ones it
//! was compiled with, so nothing here may differ between the two ends. Every
//! tunable is set explicitly: `Config::target` switches off Wasmtime's
//! no-virtual-memory defaults, and leaving one to a default would make the
//! desktop and the device disagree.
#![no_std]

use core::fmt;
use core::str::FromStr;
use wasmtime::{Config, Engine, Result, WasmFeatures};

/// Bumped whenever a setting below changes; part of the package header later.
pub const PROFILE_VERSION: u32 = 1;

/// The Wasmtime release the profile is written for.
pub const WASMTIME_VERSION: &str = "48.0.8";

/// The version Wasmtime stamps into a `.cwasm` and insists on when loading it
/// (its major version: patch releases of an LTS line share artifacts).
/// `belljar-build`'s tests check this against real artifacts.
pub const ARTIFACT_VERSION: &str = "48";

/// Runtime-only default for the Pulley stack of one Store (bytes). It does not
/// affect compatibility, only how deep guests may recurse. Wasmtime's default
/// is 512 KiB; a microcontroller cannot afford that.
pub const DEFAULT_WASM_STACK: usize = 16 * 1024;

/// Which Pulley flavour a `.cwasm` holds. pulley32 bytecode only runs on
/// 32-bit hosts (the MCU), pulley64 only on 64-bit hosts (desktops).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Pulley32,
    Pulley64,
}

impl Target {
    pub const ALL: [Target; 2] = [Target::Pulley32, Target::Pulley64];

    /// The target triple Wasmtime uses for this flavour.
    pub const fn triple(self) -> &'static str {
        match self {
            Target::Pulley32 => "pulley32",
            Target::Pulley64 => "pulley64",
        }
    }

    /// The flavour this host can execute.
    pub const fn host() -> Target {
        if cfg!(target_pointer_width = "32") {
            Target::Pulley32
        } else {
            Target::Pulley64
        }
    }

    /// The flavour from a Wasmtime target triple such as `pulley32` or
    /// `pulley64le`.
    pub fn from_triple(triple: &str) -> Option<Target> {
        if triple.starts_with("pulley32") {
            Some(Target::Pulley32)
        } else if triple.starts_with("pulley64") {
            Some(Target::Pulley64)
        } else {
            None
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.triple())
    }
}

impl FromStr for Target {
    type Err = UnknownTarget;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pulley32" => Ok(Target::Pulley32),
            "pulley64" => Ok(Target::Pulley64),
            _ => Err(UnknownTarget),
        }
    }
}

#[derive(Debug)]
pub struct UnknownTarget;

impl fmt::Display for UnknownTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "unknown target: expected `pulley32` (microcontrollers) or `pulley64` (desktop)",
        )
    }
}

impl core::error::Error for UnknownTarget {}

/// The belljar engine configuration for `target`.
///
/// Compatibility-relevant settings (checked by `deserialize`): target, wasm
/// features, memory layout tunables, fuel. Runtime-only settings that set RAM
/// use (`max_wasm_stack`, growth reservation) get belljar defaults here and may
/// be lowered by a board.
pub fn config(target: Target) -> Result<Config> {
    let mut config = Config::new();
    config.target(target.triple())?;

    // WebAssembly features: what Rust's wasm32-unknown-unknown emits, plus
    // custom page sizes so guests can have a few KiB of memory instead of 64 KiB.
    // Wasmtime's defaults depend on which cargo features it was built with
    // (gc, threads, component-model-async): the desktop and the device build it
    // differently, so everything that differs is pinned here.
    config.wasm_custom_page_sizes(true);
    config.wasm_features(
        WasmFeatures::GC_TYPES
            | WasmFeatures::GC
            | WasmFeatures::EXCEPTIONS
            | WasmFeatures::THREADS
            | WasmFeatures::SHARED_EVERYTHING_THREADS
            | WasmFeatures::STACK_SWITCHING
            | WasmFeatures::MEMORY64
            | WasmFeatures::MULTI_MEMORY
            | WasmFeatures::SIMD
            | WasmFeatures::RELAXED_SIMD
            | WasmFeatures::CM_ASYNC
            | WasmFeatures::CM_MORE_ASYNC_BUILTINS
            | WasmFeatures::CM_ASYNC_STACKFUL
            | WasmFeatures::CM_THREADING
            | WasmFeatures::CM_ERROR_CONTEXT,
        false,
    );
    config.concurrency_support(false);

    // Interruption: fuel (epochs need 64-bit atomics, absent on Cortex-M33).
    config.consume_fuel(true);
    config.epoch_interruption(false);

    // Linear memory without virtual memory: no reservation, no guard pages,
    // explicit bounds checks, memory initialised by copying (no CoW mmap).
    config.memory_reservation(0);
    config.memory_guard_size(0);
    config.memory_reservation_for_growth(0);
    config.guard_before_linear_memory(false);
    config.memory_may_move(true);
    config.memory_init_cow(false);
    config.table_lazy_init(false);
    config.signals_based_traps(false);

    // Smaller artifacts: no address map (traps still name the function).
    config.generate_address_map(false);
    config.wasm_backtrace_max_frames(core::num::NonZeroUsize::new(32));
    config.native_unwind_info(false);

    config.max_wasm_stack(DEFAULT_WASM_STACK);
    Ok(config)
}

/// An engine with the belljar profile for `target`.
pub fn engine(target: Target) -> Result<Engine> {
    Engine::new(&config(target)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_through_their_names() {
        for t in Target::ALL {
            assert_eq!(t.triple().parse::<Target>().unwrap(), t);
            assert_eq!(Target::from_triple(t.triple()), Some(t));
        }
        assert!("x86_64".parse::<Target>().is_err());
        assert_eq!(Target::from_triple("pulley64le"), Some(Target::Pulley64));
    }

    #[test]
    fn both_flavours_make_an_engine() {
        for t in Target::ALL {
            engine(t).unwrap();
        }
    }
}
