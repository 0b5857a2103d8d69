//! Boards that cannot run here (no hardware, no QEMU model) still build,
//! boot-ready, within budget.

mod common;

use belljar_cli::qemu::{self, FirmwareSettings};
use belljar_profile::Target;
use common::*;
use object::{Object, ObjectSection, ObjectSymbol};

/// A board built with blinky: its crate, Rust target, budgets and what its
/// image must carry besides.
struct Case {
    krate: &'static str,
    target: &'static str,
    /// Flash: the sections the image stores (absent ones count 0).
    flash: &'static [&'static str],
    flash_budget: u64,
    /// Static RAM, the heap included: the sections in RAM before the stack.
    ram: &'static [&'static str],
    ram_budget: u64,
    check: fn(&object::File),
}

/// Sections stored in flash (`.data` too: its initial values).
const FLASH: &[&str] = &[
    ".vector_table",
    ".start_block",
    ".text",
    ".bi_entries",
    ".rodata",
    ".data",
    ".end_block",
];
/// Sections in RAM before the stack: `.uninit` is the heap.
const RAM: &[&str] = &[".data", ".bss", ".uninit"];

/// Builds `case`'s firmware with blinky and checks it: the guest is in the
/// image, flash and RAM within budget (regression guards; the targets and
/// measured figures are in the README's footprint table), and `case.check`.
fn builds_and_fits(case: &Case) {
    let cwasm = cwasm_path("blinky", Target::Pulley32);
    let elf = qemu::build_board_for_target(
        case.krate,
        case.target,
        &[cwasm.as_path()],
        &FirmwareSettings::default(),
    )
    .unwrap();
    let bytes = std::fs::read(&elf).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let size = |names: &[&str]| -> u64 {
        names
            .iter()
            .filter_map(|n| file.section_by_name(n))
            .map(|s| s.size())
            .sum()
    };
    let (flash, ram) = (size(case.flash), size(case.ram));
    let krate = case.krate;
    eprintln!("{krate}: flash {flash} bytes, static RAM {ram} bytes");
    assert!(flash <= case.flash_budget, "{krate}: flash {flash} bytes");
    assert!(
        ram <= case.ram_budget,
        "{krate}: static RAM (heap included) {ram} bytes"
    );
    (case.check)(&file);
    let guest = std::fs::read(&cwasm).unwrap();
    assert!(bytes.windows(guest.len()).any(|w| w == guest));
}

/// The Raspberry Pi Pico 2 firmware: it must carry the RP2350 boot block.
#[test]
fn rp2350_firmware_builds_with_its_boot_block_and_fits() {
    builds_and_fits(&Case {
        krate: "rp2350",
        target: "thumbv8m.main-none-eabihf",
        flash: FLASH,
        ram: RAM,
        // 433 KB with the blocking host; the async host (Wasmtime fibers and
        // async calls, embassy executor and time driver) measured 466 KB; the
        // peripheral interfaces (the device world's bindings: +57 KB, and the
        // rp235x-hal I2C, SPI, PWM and ADC drivers: +8 KB) 531 KB; with
        // Pulley's SIMD opcodes back and the supervisor's flash glue 552 KB.
        // The target (300 KiB) is open work: see the README's footprint section.
        flash_budget: 560 * 1024,
        // The 160 KiB heap (three apps side by side) and the statics, in the
        // 256 KiB the firmware is given.
        ram_budget: 176 * 1024,
        check: |file| {
            let start = file
                .section_by_name(".start_block")
                .expect("RP2350 image definition block")
                .address();
            assert!(
                (0x1000_0000..0x1000_1000).contains(&start),
                "boot block at {start:#x}"
            );
        },
    });
}

/// The same Pico 2 crate built for the RP2350's Hazard3 RISC-V cores: the
/// boot ROM enters a RISC-V image at its start, so riscv-rt's `_start` must
/// be there and the image definition block within the first 4 KiB.
#[test]
fn rp2350_riscv_firmware_builds_with_its_boot_block_and_fits() {
    builds_and_fits(&Case {
        krate: "rp2350",
        target: "riscv32imac-unknown-none-elf",
        flash: FLASH,
        ram: RAM,
        // 683 KB measured with blinky: RV32IMAC code is larger than Thumb-2
        // (`.text` 591 KB against 452 KB for the same crate on the M33).
        flash_budget: 700 * 1024,
        ram_budget: 176 * 1024,
        check: |file| {
            let symbol = |found: &dyn Fn(&str) -> bool| {
                file.symbols()
                    .find(|s| s.name().is_ok_and(found))
                    .map(|s| s.address())
            };
            assert_eq!(file.entry(), 0x1000_0000, "entry at the start of flash");
            let start = symbol(&|n| n == "_start");
            assert_eq!(start, Some(0x1000_0000), "riscv-rt's _start first");
            let block =
                symbol(&|n| n.contains("9IMAGE_DEF")).expect("RP2350 image definition block");
            assert!(
                (0x1000_0000..0x1000_1000).contains(&block),
                "image definition at {block:#x}"
            );
        },
    });
}

/// The nRF52840 DK firmware (Cortex-M4F, Armv7E-M: no MSPLIM, an MPU region
/// guards the running stack): its vector table at the start of flash, where
/// the nRF52840 boots from without a bootloader; the FP register isolation
/// compiled in.
#[test]
fn nrf52840_firmware_builds_and_fits() {
    builds_and_fits(&Case {
        krate: "nrf52840",
        target: "thumbv7em-none-eabihf",
        flash: FLASH,
        ram: RAM,
        // 544 KB measured with blinky (Thumb-2 without Armv8-M's code size
        // gains is a little bigger than the RP2350's, no I2C/SPI/PWM/ADC).
        flash_budget: 560 * 1024,
        ram_budget: 176 * 1024,
        check: |file| {
            let vectors = file.section_by_name(".vector_table").unwrap();
            assert_eq!(vectors.address(), 0, "vector table at the start of flash");
            // 16 core exceptions and the nRF52840's 48 interrupts.
            assert_eq!(vectors.size(), 64 * 4);
            // Wasmtime's Arm fiber switch leaves s16-s31 shared: the M4F's
            // FPU needs `belljar_device::fp` as the M33's does.
            assert!(
                file.symbols()
                    .any(|s| s.name().is_ok_and(|n| n.contains("fp12with_fp_regs"))),
                "belljar_device::fp compiled in"
            );
        },
    });
}

/// The ESP32-C6-DevKitC-1 firmware (esp-hal's runtime and `linkall.x`, a
/// workspace of its own): what the ESP-IDF 2nd-stage bootloader needs of
/// the image, and the guest read in place from flash.
#[test]
fn esp32c6_firmware_builds_with_its_app_descriptor_and_fits() {
    builds_and_fits(&Case {
        krate: "esp32c6",
        target: "riscv32imac-unknown-none-elf",
        // The image's segments: the app descriptor and read-only data, the
        // code (both mapped from flash), and what the bootloader copies into
        // RAM (the trap vectors, esp-hal's RAM code, .data).
        flash: &[
            ".flash.appdesc",
            ".rodata",
            ".text",
            ".trap",
            ".rwtext",
            ".data",
        ],
        // 698 502 B measured with blinky: as much as the RP2350's Hazard3
        // build (the same RV32IMAC code; esp-hal's switch tables are in
        // `.data`, copied to RAM by the bootloader).
        flash_budget: 690 * 1024,
        // The trap vectors and esp-hal's RAM code come first in RAM; the
        // 160 KiB heap is in esp-hal's `.noinit`. 175 256 B measured.
        ram: &[".trap", ".rwtext", ".data", ".bss", ".noinit"],
        ram_budget: 176 * 1024,
        check: |file| {
            let section = |name: &str| {
                file.section_by_name(name)
                    .unwrap_or_else(|| panic!("no {name} section"))
            };
            let symbol = |name: &str| {
                file.symbols()
                    .find(|s| s.name() == Ok(name))
                    .unwrap_or_else(|| panic!("no symbol {name}"))
                    .address()
            };
            // Flash is mapped through the MMU at 0x4200_0000 (16 MiB);
            // the app gets the HP SRAM from 0x4080_0000.
            let in_flash = |a: u64| (0x4200_0000..0x4300_0000).contains(&a);
            let in_ram = |a: u64| (0x4080_0000..0x4088_0000).contains(&a);
            // The bootloader reads the app descriptor (esp_app_desc_t, 256
            // bytes, magic 0xABCD5432) at the start of the first segment:
            // the lowest flash address the image loads.
            let desc = section(".flash.appdesc");
            assert_eq!(desc.address(), 0x4200_0020, "app descriptor first");
            assert_eq!(desc.size(), 256);
            let magic = desc.data().unwrap()[..4].try_into().unwrap();
            assert_eq!(u32::from_le_bytes(magic), 0xABCD_5432);
            for s in file.sections() {
                if s.size() > 0 && in_flash(s.address()) {
                    assert!(s.address() >= desc.address(), "{:?} before it", s.name());
                }
            }
            // Code and read-only data are separate segments in different
            // 64 KiB MMU pages (esp-hal's `.text_gap`); the entry point is
            // esp-riscv-rt's `_start`, in the code.
            let (rodata, text) = (section(".rodata"), section(".text"));
            let rodata_end = rodata.address() + rodata.size();
            assert!(text.address() >= rodata_end.next_multiple_of(0x1_0000));
            assert_eq!(file.entry(), symbol("_start"));
            assert!((text.address()..text.address() + text.size()).contains(&file.entry()));
            // The trap vectors in RAM, 256-byte aligned (vectored `mtvec`).
            let vectors = symbol("_vector_table");
            assert!(
                in_ram(vectors) && vectors % 256 == 0,
                "vectors at {vectors:#x}"
            );
            // Exceptions reach belljar_device::fault, not esp-hal's default.
            assert_ne!(symbol("ExceptionHandler"), symbol("_default_abort"));
            // The guest is read in place from flash-mapped read-only data,
            // not copied into RAM.
            let guest = cwasm("blinky", Target::Pulley32);
            let data = rodata.data().unwrap();
            assert!(
                data.windows(guest.len()).any(|w| w == guest),
                "the .cwasm is not in .rodata"
            );
            // The 160 KiB heap, in RAM.
            let heap = section(".noinit");
            assert!(in_ram(heap.address()) && heap.size() >= 160 * 1024);
        },
    });
}

/// The Pico 2 in supervisor mode (`BELLJAR_PUBKEY`, a factory package):
/// the update area is the last 512 KiB of the 4 MiB flash and the firmware
/// ends below it; the code that runs while XIP is off is in RAM; the signed
/// factory package is embedded; it fits its budget.
#[test]
fn rp2350_supervisor_firmware_builds_with_its_update_area_and_fits() {
    use belljar_package::ed25519_dalek::SigningKey;
    use belljar_package::{Header, sign};

    let dir = repo().join("target").join("boards-test");
    std::fs::create_dir_all(&dir).unwrap();
    let key = SigningKey::from_bytes(&[42u8; 32]);
    let pubkey = dir.join("board.pub");
    let hex: String = key
        .verifying_key()
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(&pubkey, hex).unwrap();
    let cwasm = cwasm("blinky", Target::Pulley32);
    let header = Header::for_payload(Target::Pulley32, "blinky", "blinky", 1, cwasm);
    let package = sign(&header, cwasm, &key);
    let initial = dir.join("blinky.bjpkg");
    std::fs::write(&initial, &package).unwrap();
    let settings = FirmwareSettings {
        pubkey: Some(pubkey),
        initial: Some(initial),
        ..FirmwareSettings::default()
    };
    let elf = qemu::build_board("rp2350", &[], &settings).unwrap();
    let bytes = std::fs::read(&elf).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let symbol = |name: &str| {
        file.symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap_or_else(|| panic!("no symbol {name}"))
    };
    let start = symbol("__belljar_slots_start").address();
    let end = symbol("__belljar_slots_end").address();
    assert_eq!(
        (start, end),
        (0x1000_0000 + (4096 - 512) * 1024, 0x1040_0000)
    );
    // Nothing of the firmware is stored in the update area.
    for section in file.sections() {
        let name = section.name().unwrap_or("");
        if (0x1000_0000..0x1040_0000).contains(&section.address()) && section.size() > 0 {
            assert!(
                section.address() + section.size() <= start,
                "{name} reaches into the update area"
            );
        }
    }
    // The ROM flash sequence runs from RAM (.data, copied at boot).
    let op = file
        .symbols()
        .find(|s| s.name().is_ok_and(|n| n.contains("rom_flash_op")) && s.size() > 0)
        .expect("the RAM flash routine");
    let data = file.section_by_name(".data").unwrap();
    assert!(
        (data.address()..data.address() + data.size()).contains(&op.address()),
        "rom_flash_op at {:#x} is not in RAM",
        op.address()
    );
    let flash: u64 = FLASH
        .iter()
        .filter_map(|n| file.section_by_name(n))
        .map(|s| s.size())
        .sum();
    eprintln!("rp2350 supervisor firmware: {flash} bytes of flash");
    // 625 028 bytes measured (the blinky firmware's 552 024 less the embedded
    // guest, plus verification, the update protocol and the slots).
    assert!(flash <= 640 * 1024, "flash {flash} bytes");
    assert!(bytes.windows(package.len()).any(|w| w == package));
}
