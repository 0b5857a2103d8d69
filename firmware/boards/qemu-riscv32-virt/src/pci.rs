//! Just enough PCI to reach one device on the virt machine's PCIe host
//! bridge (ECAM at 0x3000_0000, I/O window at 0x0300_0000): the update
//! link is QEMU's `pci-serial` (a 16550 behind an I/O BAR, vendor 0x1b36,
//! device 0x0002) at bus 0, device 1 (`-device pci-serial,addr=1`). No
//! firmware ran before this one to assign BARs: it assigns BAR0 itself.

/// Configuration space of bus 0 (ECAM: 4 KiB per function, device << 15).
const ECAM: usize = 0x3000_0000;
/// Where the host bridge maps PCI I/O space.
const PIO: usize = 0x0300_0000;
/// The I/O address given to the serial port's BAR0.
const SERIAL_IO: u32 = 0x1000;

const RED_HAT: u16 = 0x1b36;
const PCI_SERIAL: u16 = 0x0002;

fn config(device: usize, offset: usize) -> *mut u32 {
    (ECAM + (device << 15) + offset) as *mut u32
}

/// The pci-serial port at bus 0, device `device`: enables its I/O BAR and
/// returns the address of its 16550 registers, or `None` if no such
/// device is there (QEMU was started without it).
pub fn serial(device: usize) -> Option<usize> {
    // SAFETY: the host bridge's configuration space (a read of an absent
    // device gives all ones).
    unsafe {
        let id = config(device, 0x00).read_volatile();
        if id as u16 != RED_HAT || (id >> 16) as u16 != PCI_SERIAL {
            return None;
        }
        config(device, 0x10).write_volatile(SERIAL_IO);
        let command = config(device, 0x04);
        // Command register: I/O space decoding on.
        command.write_volatile(command.read_volatile() | 1);
    }
    Some(PIO + SERIAL_IO as usize)
}
