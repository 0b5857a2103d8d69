//! Who may touch what: per-app grants (from a signed package's capabilities)
//! and board-wide ownership when several apps share one board.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, Ordering};

use crate::board::Fault;

/// Pins 0..64 can be granted and owned; that covers every GPIO of the
/// boards belljar targets (RP2350B has 48).
pub const MAX_PINS: u32 = 64;
const UART: usize = MAX_PINS as usize;

/// A set of pin numbers below [`MAX_PINS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PinSet(u64);

impl PinSet {
    pub const ALL: PinSet = PinSet(u64::MAX);
    pub const NONE: PinSet = PinSet(0);

    pub fn contains(&self, pin: u32) -> bool {
        pin < MAX_PINS && self.0 & (1 << pin) != 0
    }

    pub fn insert(&mut self, pin: u32) {
        if pin < MAX_PINS {
            self.0 |= 1 << pin;
        }
    }
}

impl FromIterator<u32> for PinSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut set = PinSet::NONE;
        for pin in iter {
            set.insert(pin);
        }
        set
    }
}

/// An I2C device an app may address: bus name and 7-bit address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct I2cGrant {
    pub bus: String,
    pub address: u16,
}

/// What one app may use. [`Grants::ALL`] for a developer's own app; a signed
/// package's capabilities narrow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grants {
    /// Pins it may drive (gpio, servo, pwm).
    pub outputs: PinSet,
    /// Pins it may read (button, digital).
    pub inputs: PinSet,
    /// ADC channels it may read (analog).
    pub analog: PinSet,
    /// I2C devices it may address; `None` = every device on every bus.
    pub i2c: Option<Vec<I2cGrant>>,
    /// SPI devices (by board name) it may open; `None` = all.
    pub spi: Option<Vec<String>>,
    /// Interfaces by WIT name (`embedded:platform/uart`); `None` = all.
    pub interfaces: Option<Vec<String>>,
}

impl Grants {
    pub const ALL: Grants = Grants {
        outputs: PinSet::ALL,
        inputs: PinSet::ALL,
        analog: PinSet::ALL,
        i2c: None,
        spi: None,
        interfaces: None,
    };

    pub fn interface(&self, name: &str) -> bool {
        match &self.interfaces {
            None => true,
            Some(list) => list.iter().any(|i| i == name),
        }
    }
}

impl Default for Grants {
    fn default() -> Self {
        Grants::ALL
    }
}

/// Board-wide ownership of pins and the UART among the apps sharing a
/// board: the first app to use a resource owns it until it ends; another app
/// touching it traps. Lock-free (byte atomics), so it works on one core
/// without a mutex and on the desktop with threads.
pub struct Claims {
    owners: [AtomicU8; UART + 1],
    names: Vec<String>,
}

/// An app registered with [`Claims`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppId(u8);

impl Claims {
    /// Ownership for apps with these names (at most 255).
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Arc<Claims> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        assert!(names.len() < 256, "at most 255 apps share a board");
        Arc::new(Claims {
            owners: [const { AtomicU8::new(0) }; UART + 1],
            names,
        })
    }

    /// The id of the `index`th app named in [`Claims::new`].
    pub fn app(&self, index: usize) -> AppId {
        assert!(index < self.names.len(), "no app #{index}");
        AppId(index as u8 + 1)
    }

    pub fn name(&self, app: AppId) -> &str {
        &self.names[usize::from(app.0 - 1)]
    }

    fn claim(&self, slot: usize, app: AppId) -> Result<(), AppId> {
        match self.owners[slot].compare_exchange(0, app.0, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Ok(()),
            Err(owner) if owner == app.0 => Ok(()),
            Err(owner) => Err(AppId(owner)),
        }
    }

    /// Frees everything `app` owns (it ended or is being restarted).
    pub fn release(&self, app: AppId) {
        for owner in &self.owners {
            let _ = owner.compare_exchange(app.0, 0, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// The app owning `pin`, if any.
    pub fn owner(&self, pin: u32) -> Option<AppId> {
        let slot = self.owners.get(pin as usize)?;
        match slot.load(Ordering::Acquire) {
            0 => None,
            id => Some(AppId(id)),
        }
    }
}

/// An app's access to its board: its grants and, when it shares the board,
/// its share of the ownership table.
pub struct Access {
    pub grants: Grants,
    shared: Option<(Arc<Claims>, AppId)>,
}

impl Access {
    /// A single app with everything granted.
    pub fn all() -> Access {
        Access {
            grants: Grants::ALL,
            shared: None,
        }
    }

    pub fn new(grants: Grants) -> Access {
        Access {
            grants,
            shared: None,
        }
    }

    /// This app shares the board with the others registered in `claims`.
    pub fn shared(mut self, claims: Arc<Claims>, app: AppId) -> Access {
        self.shared = Some((claims, app));
        self
    }

    /// May this app use `embedded:platform/<interface>` (or the interface
    /// with this full name, `wasi:spi/spi`)? Checked on every host call, so
    /// without allocating.
    pub(crate) fn interface(&self, interface: &'static str) -> Result<(), Fault> {
        let granted = match &self.grants.interfaces {
            None => true,
            Some(list) => list
                .iter()
                .any(|i| i == interface || i.strip_prefix("embedded:platform/") == Some(interface)),
        };
        if granted {
            Ok(())
        } else {
            Err(Fault::NotGranted {
                interface,
                pin: None,
            })
        }
    }

    fn own(&self, interface: &'static str, slot: usize, pin: Option<u32>) -> Result<(), Fault> {
        if let Some((claims, app)) = &self.shared {
            claims.claim(slot, *app).map_err(|owner| Fault::InUse {
                interface,
                pin,
                owner: String::from(claims.name(owner)),
            })?;
        }
        Ok(())
    }

    /// May this app drive `pin`? Claims it when the board is shared.
    pub(crate) fn output(&self, interface: &'static str, pin: u32) -> Result<(), Fault> {
        self.interface(interface)?;
        if pin >= MAX_PINS {
            // No board has such a pin: the board refuses it with its own message.
            return Ok(());
        }
        if !self.grants.outputs.contains(pin) {
            return Err(Fault::NotGranted {
                interface,
                pin: Some(pin),
            });
        }
        self.own(interface, pin as usize, Some(pin))
    }

    /// May this app read `pin`? Claims it when the board is shared.
    pub(crate) fn input(&self, interface: &'static str, pin: u32) -> Result<(), Fault> {
        self.interface(interface)?;
        if pin >= MAX_PINS {
            // No board has such a pin: the board refuses it with its own message.
            return Ok(());
        }
        if !self.grants.inputs.contains(pin) {
            return Err(Fault::NotGranted {
                interface,
                pin: Some(pin),
            });
        }
        self.own(interface, pin as usize, Some(pin))
    }

    /// May this app read ADC `channel`?
    pub(crate) fn analog(&self, channel: u32) -> Result<(), Fault> {
        self.interface("analog")?;
        if channel < MAX_PINS && !self.grants.analog.contains(channel) {
            return Err(Fault::NotGranted {
                interface: "analog",
                pin: Some(channel),
            });
        }
        Ok(())
    }

    /// May this app open I2C bus `bus` (does it have any device on it)?
    pub(crate) fn i2c_bus(&self, bus: &str) -> Result<(), Fault> {
        match &self.grants.i2c {
            Some(list) if !list.iter().any(|g| g.bus == bus) => Err(Fault::BusNotGranted {
                what: "i2c",
                name: String::from(bus),
                address: None,
            }),
            _ => Ok(()),
        }
    }

    /// May this app address `address` on I2C bus `bus`?
    pub(crate) fn i2c_device(&self, bus: &str, address: u16) -> Result<(), Fault> {
        match &self.grants.i2c {
            Some(list) if !list.iter().any(|g| g.bus == bus && g.address == address) => {
                Err(Fault::BusNotGranted {
                    what: "i2c",
                    name: String::from(bus),
                    address: Some(address),
                })
            }
            _ => Ok(()),
        }
    }

    /// May this app open SPI device `name`?
    pub(crate) fn spi(&self, name: &str) -> Result<(), Fault> {
        match &self.grants.spi {
            Some(list) if !list.iter().any(|d| d == name) => Err(Fault::BusNotGranted {
                what: "spi",
                name: String::from(name),
                address: None,
            }),
            _ => Ok(()),
        }
    }

    /// May this app use the UART? Claims it when the board is shared.
    pub(crate) fn uart(&self) -> Result<(), Fault> {
        self.interface("uart")?;
        self.own("uart", UART, None)
    }
}

impl Drop for Access {
    fn drop(&mut self) {
        if let Some((claims, app)) = &self.shared {
            claims.release(*app);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn first_user_owns_a_pin_until_it_ends() {
        let claims = Claims::new(["blinky", "intruder"]);
        let blinky = Access::all().shared(claims.clone(), claims.app(0));
        let intruder = Access::all().shared(claims.clone(), claims.app(1));
        blinky.output("gpio", 25).unwrap();
        blinky.output("gpio", 25).unwrap();
        let fault = intruder.output("gpio", 25).unwrap_err();
        assert_eq!(fault.to_string(), "gpio: pin 25 is in use by app `blinky`");
        intruder.output("gpio", 24).unwrap();
        assert_eq!(claims.owner(24), Some(claims.app(1)));
        drop(blinky);
        assert_eq!(claims.owner(25), None);
        intruder.output("gpio", 25).unwrap();
    }

    #[test]
    fn grants_limit_pins_and_interfaces() {
        let access = Access::new(Grants {
            outputs: [25].into_iter().collect(),
            inputs: PinSet::NONE,
            analog: PinSet::NONE,
            i2c: Some(alloc::vec![I2cGrant {
                bus: "i2c0".into(),
                address: 0x48
            }]),
            spi: Some(Vec::new()),
            interfaces: Some(alloc::vec!["embedded:platform/gpio".into()]),
        });
        access.i2c_bus("i2c0").unwrap();
        access.i2c_device("i2c0", 0x48).unwrap();
        assert_eq!(
            access.i2c_device("i2c0", 0x50).unwrap_err().to_string(),
            "i2c: device 0x50 on bus `i2c0` is not granted to this app (its package's capabilities do not list it)"
        );
        assert!(access.i2c_bus("i2c1").is_err());
        assert!(access.spi("display0").is_err());
        access.output("gpio", 25).unwrap();
        assert_eq!(
            access.output("gpio", 24).unwrap_err().to_string(),
            "gpio: pin 24 is not granted to this app (its package's capabilities do not list it)"
        );
        assert!(matches!(
            access.uart().unwrap_err(),
            Fault::NotGranted {
                interface: "uart",
                pin: None
            }
        ));
        assert!(access.input("button", 15).is_err());
    }
}
