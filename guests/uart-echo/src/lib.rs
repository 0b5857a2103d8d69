//! Echoes UART input for a terminal: BS or DEL erase the previous character
//! (BS, space, BS); CR or LF become CR LF; everything else is echoed as is.
#![no_std]

use belljar_guest as _;

wit_bindgen::generate!({ world: "uart-echo", path: "../../wit" });

use embedded::platform::uart;

const BS: u8 = 0x08;
const DEL: u8 = 0x7f;

struct UartEcho;

impl Guest for UartEcho {
    fn run() {
        loop {
            match uart::read_byte() {
                BS | DEL => write(&[BS, b' ', BS]),
                b'\r' | b'\n' => write(b"\r\n"),
                byte => uart::write_byte(byte),
            }
        }
    }
}

fn write(bytes: &[u8]) {
    for &b in bytes {
        uart::write_byte(b);
    }
}

export!(UartEcho);
