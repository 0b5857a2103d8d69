//! Greets by name: `run(some("Kevin"))` is "hello, Kevin!", `run(none)` is
//! "hello, world!".
#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use belljar_guest as _;

wit_bindgen::generate!({ world: "greeter", path: "wit" });

struct Greeter;

impl Guest for Greeter {
    fn run(name: Option<String>) -> String {
        format!("hello, {}!", name.as_deref().unwrap_or("world"))
    }

    fn describe() -> String {
        String::from("greeter: says hello to a name, or to the world")
    }
}

export!(Greeter);
