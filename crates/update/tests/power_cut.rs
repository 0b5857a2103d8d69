//! Power cuts at every flash operation of an update never leave the device
//! without a valid signed app, and the update can always be finished after.

mod common;

use belljar_package::verify;
use belljar_update::proto::{DeviceMsg, Mode};
use belljar_update::{Receiver, Slot, Slots};
use common::*;

/// One whole update as the device lives it: upload and verify (Installed),
/// reboot, trial boot, confirm. Stops at the first failure, which must be
/// the power cut. Returns whether it got to the end, and where the upload
/// started (not 0 when it resumed).
fn update_flow<F: TestFlash>(flash: &mut F, pkg: &[u8]) -> (bool, Option<u32>) {
    let vk = verifying_key();
    let policy = policy(&vk);
    macro_rules! or_cut {
        ($slots:expr, $e:expr, $from:expr) => {
            match $e {
                Ok(v) => v,
                Err(e) => {
                    assert!($slots.flash().power_lost(), "{e:?} without a power cut");
                    return (false, $from);
                }
            }
        };
    }
    let mut slots = match Slots::open_mapped(&mut *flash, CFG) {
        Ok(slots) => slots,
        Err(e) => panic!("{e:?}: open does not write, the power is on"),
    };
    let report = upload(
        pkg,
        Mode::Install,
        &mut Receiver::new(),
        &mut slots,
        &policy,
    );
    let resumed_from = report.resumed_from;
    match report.end {
        Sent::PowerLost => return (false, resumed_from),
        Sent::Done(DeviceMsg::Installed { version: 2, .. }) => {}
        end => panic!("update ended with {end:?}"),
    }
    // Planned reboot into the candidate (opening only reads).
    let mut slots = Slots::open_mapped(&mut *flash, CFG).unwrap();
    let choice = or_cut!(slots, slots.boot(), resumed_from).expect("an app to boot");
    assert!(choice.trial);
    // The app runs and is healthy.
    or_cut!(slots, slots.confirm(), resumed_from);
    (true, resumed_from)
}

#[derive(Debug, PartialEq, Eq)]
enum Booted {
    A,
    BTrial,
    BConfirmed,
    Brick(String),
}

/// Power comes back: open the slots from the raw flash, boot, and check the
/// chosen package with the real verifier.
fn power_up<F: TestFlash>(flash: &mut F, a: &[u8], b: &[u8]) -> Booted {
    flash.reboot();
    let vk = verifying_key();
    let mut check = policy(&vk);
    let mut slots = match Slots::open_mapped(&mut *flash, CFG) {
        Ok(slots) => slots,
        Err(e) => return Booted::Brick(format!("open: {e:?}")),
    };
    let choice = match slots.boot() {
        Ok(Some(choice)) => choice,
        other => return Booted::Brick(format!("boot: {other:?}")),
    };
    // What the supervisor verifies and deserializes: the image in place.
    let Some(bytes) = slots.mapped_image(&choice.image) else {
        return Booted::Brick(format!("{:?} is not in its slot", choice.image));
    };
    assert_eq!(
        bytes,
        &slots.flash().memory()[choice.range.start as usize..choice.range.end as usize]
    );
    check.installed = None;
    let header = match verify(bytes, &check) {
        Ok(ok) => ok.header,
        Err(e) => return Booted::Brick(format!("{:?} does not verify: {e}", choice.image)),
    };
    if slots
        .installed_version()
        .is_some_and(|floor| header.version < floor)
    {
        return Booted::Brick(format!("boots v{} below the floor", header.version));
    }
    match (bytes == a, bytes == b, choice.trial) {
        (true, _, false) => Booted::A,
        (_, true, true) => Booted::BTrial,
        (_, true, false) => Booted::BConfirmed,
        _ => Booted::Brick(format!(
            "unexpected app {} v{} (trial {})",
            header.app, header.version, choice.trial
        )),
    }
}

/// After power-up, bring the update to its end: confirm a trial, or run
/// the update again (it resumes). Stops at a power cut like [`update_flow`].
fn retry_flow<F: TestFlash>(flash: &mut F, booted: &Booted, b: &[u8]) -> (bool, Option<u32>) {
    match booted {
        Booted::BConfirmed => (true, None),
        Booted::BTrial => {
            let mut slots = Slots::open_mapped(&mut *flash, CFG).unwrap();
            match slots.confirm() {
                Ok(confirmed) => (confirmed, None),
                Err(e) => {
                    assert!(slots.flash().power_lost(), "{e:?}");
                    (false, None)
                }
            }
        }
        Booted::A => update_flow(flash, b),
        Booted::Brick(why) => panic!("{why}"),
    }
}

/// B is the confirmed app and boots.
fn assert_b_confirmed<F: TestFlash>(flash: &mut F, b: &[u8]) {
    let mut slots = Slots::open_mapped(&mut *flash, CFG).unwrap();
    let choice = slots.boot().unwrap().unwrap();
    assert!(!choice.trial);
    assert_eq!(
        &slots.flash().memory()[choice.range.start as usize..choice.range.end as usize],
        b
    );
    assert_eq!(slots.installed_version(), Some(2));
}

/// App A (v1) runs from slot B, slot A holds the app before it; B (v2) is
/// the update. Returns (A, B, the flash, operations of one uncut update,
/// erases per sector of one uncut update).
fn setup<F: TestFlash>() -> (Vec<u8>, Vec<u8>, F, u64, Vec<u32>) {
    let a = package("app-a", 1, 20_000);
    let b = package("app-b", 2, 40_000);

    // Steady state: A runs from slot B and slot A still holds the app before
    // it (larger than B), so the update has to erase every sector it writes.
    let old = package("app-old", 1, 44_000);
    let mut base = F::blank(SECTORS);
    install(&mut base, &old);
    install(&mut base, &a);
    {
        let slots = Slots::open(&mut base, CFG).unwrap();
        assert_eq!(slots.active().unwrap().image.slot, Slot::B);
    }

    // The uncut update, for the number of operations and the wear.
    let mut clean = base.clone();
    assert!(update_flow(&mut clean, &b).0);
    let steps = clean.ops() - base.ops();
    let erases: Vec<u32> = clean
        .erase_counts()
        .iter()
        .zip(base.erase_counts())
        .map(|(after, before)| after - before)
        .collect();

    (a, b, base, steps, erases)
}

#[test]
fn a_power_cut_at_any_flash_operation_never_bricks_and_the_update_completes() {
    power_cut_at_any_operation::<Flash>();
}

/// The same suite over the XIP glue (`XipFlash`: region offsets, page
/// writes, reads and boot images through the mapped window) on a chip
/// with 256-byte pages, as the RP2350's boot ROM programs it.
#[test]
fn a_power_cut_at_any_flash_operation_never_bricks_the_xip_flash_either() {
    power_cut_at_any_operation::<Xip>();
}

fn power_cut_at_any_operation<F: TestFlash>() {
    let (a, b, base, steps, erases) = setup::<F>();
    // Cut after k operations, for every k, with the cut operation 0%, 50%,
    // 99.6% and 100% done (100%: done, but the power is gone before the
    // software goes on).
    let fractions = [0u16, 128, 255, 256];
    let (mut cuts, mut bricks, mut resumed) = (0u32, 0u32, 0u32);
    let mut outcomes = [0u32; 3];
    for done in fractions {
        for k in 0..=steps {
            let mut flash = base.clone();
            flash.cut_power(k, done);
            let (completed, _) = update_flow(&mut flash, &b);
            assert_eq!(completed, k == steps, "cut after {k} of {steps} ops");
            cuts += 1;
            let booted = power_up(&mut flash, &a, &b);
            match &booted {
                Booted::A => outcomes[0] += 1,
                Booted::BTrial => outcomes[1] += 1,
                Booted::BConfirmed => outcomes[2] += 1,
                Booted::Brick(why) => {
                    eprintln!("BRICK: cut after {k} ops ({done}/256 done): {why}");
                    bricks += 1;
                    continue;
                }
            }
            let (completed, resumed_from) = retry_flow(&mut flash, &booted, &b);
            assert!(completed, "retry after a cut after {k} ops ({done}/256)");
            assert_b_confirmed(&mut flash, &b);
            if resumed_from.is_some_and(|from| from > 0) {
                resumed += 1;
            }
        }
    }

    eprintln!(
        "power-cut: {} cut points x {} progress fractions = {cuts} cuts, {bricks} bricks \
         (boots after the cut: A {}, B on trial {}, B confirmed {}; resends that resumed mid-package: {resumed})",
        steps + 1,
        fractions.len(),
        outcomes[0],
        outcomes[1],
        outcomes[2]
    );
    let state: u32 = erases[..2].iter().sum();
    let slot: u32 = erases[2..].iter().sum();
    let firmware_bytes = 433_116usize;
    let firmware_sectors = firmware_bytes.div_ceil(4096);
    eprintln!(
        "erases for one update to a {}-byte package (4 KiB sectors): {} = {slot} slot sectors + {state} \
         state sectors (per sector: {erases:?}); a full firmware reflash (assumed {firmware_bytes} bytes, \
         today's rp2350 release image with an app inside) erases {firmware_sectors} sectors",
        b.len(),
        slot + state
    );
    assert_eq!(bricks, 0);
    assert!(
        resumed > 0,
        "some resends continue where the durable write stopped"
    );
    // Confirmed only without a cut, or when the cut hit the confirm record
    // after it was complete (100%).
    assert_eq!(outcomes[2] as usize, fractions.len() + 1);
    // Each sector of the candidate slot that the package covers is erased
    // exactly once; the active slot is never erased.
    assert_eq!(slot as usize, b.len().div_ceil(4096));
    assert!(erases[2..2 + 12].iter().all(|&n| n <= 1));
    assert!(erases[2 + 12..].iter().all(|&n| n == 0));
}

#[test]
fn a_second_cut_during_the_retry_never_bricks_either() {
    second_cut_during_the_retry::<Flash>();
}

#[test]
fn a_second_cut_during_the_retry_never_bricks_the_xip_flash_either() {
    second_cut_during_the_retry::<Xip>();
}

fn second_cut_during_the_retry<F: TestFlash>() {
    let (a, b, base, steps, _) = setup::<F>();
    // A second cut during the retry (the resume path erases and rewrites
    // too): first cut after k ops, second after j more.
    let seconds = [0u64, 1, 3, 9, 27];
    let (mut double_cuts, mut double_bricks) = (0u32, 0u32);
    for k in 0..steps {
        for j in seconds {
            let mut flash = base.clone();
            flash.cut_power(k, 128);
            update_flow(&mut flash, &b);
            let booted = power_up(&mut flash, &a, &b);
            if let Booted::Brick(why) = &booted {
                panic!("single cut after {k}: {why}");
            }
            flash.cut_power(j, 128);
            let (completed, _) = retry_flow(&mut flash, &booted, &b);
            double_cuts += u32::from(!completed);
            let booted = power_up(&mut flash, &a, &b);
            if let Booted::Brick(why) = &booted {
                eprintln!("BRICK: cuts after {k} then {j} ops: {why}");
                double_bricks += 1;
                continue;
            }
            assert!(retry_flow(&mut flash, &booted, &b).0);
            assert_b_confirmed(&mut flash, &b);
        }
    }
    eprintln!(
        "power-cut: {} first cuts x {} second cuts: {double_cuts} retries cut, {double_bricks} bricks",
        steps,
        seconds.len()
    );
    assert_eq!(double_bricks, 0);
    assert!(
        double_cuts > steps as u32 * 3,
        "most second cuts hit the retry"
    );
}

#[test]
fn twenty_updates_wear_the_state_area_less_than_the_slots() {
    twenty_updates::<Flash>();
}

#[test]
fn twenty_updates_wear_the_xip_flash_state_area_less_than_the_slots() {
    twenty_updates::<Xip>();
}

fn twenty_updates<F: TestFlash>() {
    let mut flash = F::blank(SECTORS);
    for version in 1..=20 {
        install(
            &mut flash,
            &package("app", version, 30_000 + version as usize * 100),
        );
    }
    let counts = flash.erase_counts();
    let state_max = counts[..2].iter().max().unwrap();
    let slot_max = counts[2..].iter().max().unwrap();
    let state_total: u32 = counts[..2].iter().sum();
    eprintln!(
        "wear after 20 updates: state sectors {:?} ({:.2} state erases per update), slot sectors {:?}",
        &counts[..2],
        f64::from(state_total) / 20.0,
        &counts[2..]
    );
    assert!(
        state_max <= slot_max,
        "state {state_max} vs slot {slot_max}"
    );
    // Each slot took 10 of the updates; its first use found it blank.
    assert_eq!(*slot_max, 9);
}
