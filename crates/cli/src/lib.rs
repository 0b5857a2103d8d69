//! The `belljar` command line: build guest crates, run them on the simulated
//! board, call library-style exports, inspect artifacts.

pub mod fleet;
pub mod guest;
pub mod inspect;
pub mod listen;
pub mod new;
pub mod package;
pub mod push;
pub mod qemu;
pub mod run;
pub mod wave_call;
