//! belljar's host side, shared by the desktop simulator and every board.
//!
//! * [`Board`]: what a board provides, in `embedded-hal` / `embedded-io`
//!   terms. The `embedded:platform` interfaces are implemented once, here, on
//!   top of it ([`platform`]).
//! * [`runtime`]: the loader path every runtime uses: the belljar engine
//!   profile, artifact checks with clear messages, `deserialize_raw`, import
//!   checks, fuel watchdog, and a classified [`runtime::Exit`].
//!
//! `no_std` + `alloc`: the same code runs in firmware.
#![no_std]

extern crate alloc;

pub mod access;
pub mod artifact;
mod board;
pub mod peripherals;
pub mod platform;
pub mod runtime;

pub use access::{Access, AppId, Claims, Grants, I2cGrant, PinSet};
pub use belljar_profile as profile;
pub use board::{Board, Event, Fault, Level, Peripherals, Stop, TimelineLine};
pub use peripherals::{Absent, AnalogInput, Change, WaitInput, next_scripted_change};
pub use wasmtime;
