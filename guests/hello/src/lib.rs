//! The smallest library-style component: `run` returns a greeting.
#![no_std]

extern crate alloc;

use alloc::string::String;
use belljar_guest as _;

wit_bindgen::generate!({ world: "hello", path: "wit" });

struct Hello;

impl Guest for Hello {
    fn run() -> String {
        String::from("hello, world!")
    }
}

export!(Hello);
