//! Every way a package can be wrong is refused, and nothing panics.

use belljar_package::ed25519_dalek::SigningKey;
use belljar_package::{Error, FORMAT, Header, Policy, parse, sign, verify};
use belljar_profile::Target;
use proptest::prelude::*;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn payload() -> Vec<u8> {
    (0..200u32).map(|i| (i * 7 + 3) as u8).collect()
}

fn package(version: u32) -> Vec<u8> {
    let mut header = Header::for_payload(Target::Pulley32, "blinky", "blinky", version, &payload());
    header.capabilities.outputs = vec![25];
    sign(&header, &payload(), &key(1))
}

fn policy(vk: &belljar_package::ed25519_dalek::VerifyingKey) -> Policy<'_> {
    Policy {
        key: vk,
        target: Target::Pulley32,
        installed: None,
        allow_downgrade: false,
        max_len: 64 * 1024,
    }
}

#[test]
fn a_signed_package_verifies_and_yields_its_payload() {
    let vk = key(1).verifying_key();
    let pkg = package(3);
    let ok = verify(&pkg, &policy(&vk)).unwrap();
    assert_eq!(ok.payload, payload());
    assert_eq!(ok.header.version, 3);
    assert_eq!(ok.header.capabilities.outputs, [25]);
}

#[test]
fn every_single_bit_flip_is_refused() {
    let vk = key(1).verifying_key();
    let pkg = package(3);
    for bit in 0..pkg.len() * 8 {
        let mut bad = pkg.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(
            verify(&bad, &policy(&vk)).is_err(),
            "flipping bit {bit} was accepted"
        );
    }
}

#[test]
fn every_truncation_is_refused() {
    let vk = key(1).verifying_key();
    let pkg = package(3);
    for len in 0..pkg.len() {
        assert!(
            verify(&pkg[..len], &policy(&vk)).is_err(),
            "truncated to {len} was accepted"
        );
    }
}

#[test]
fn another_key_is_refused() {
    let other = key(2).verifying_key();
    assert_eq!(
        verify(&package(3), &policy(&other)).err(),
        Some(Error::BadSignature)
    );
}

#[test]
fn an_older_version_is_refused_unless_allowed() {
    let vk = key(1).verifying_key();
    let mut p = policy(&vk);
    p.installed = Some(4);
    assert_eq!(
        verify(&package(3), &p).err(),
        Some(Error::Downgrade {
            installed: 4,
            offered: 3
        })
    );
    assert!(verify(&package(4), &p).is_ok(), "same version reinstalls");
    p.allow_downgrade = true;
    assert!(verify(&package(3), &p).is_ok());
}

#[test]
fn wrong_target_wasmtime_or_profile_are_refused_even_when_signed() {
    let vk = key(1).verifying_key();
    let mut p = policy(&vk);
    p.target = Target::Pulley64;
    assert!(matches!(
        verify(&package(1), &p),
        Err(Error::WrongTarget { .. })
    ));

    let mut h = Header::for_payload(Target::Pulley32, "blinky", "blinky", 1, &payload());
    h.wasmtime = "47".into();
    let pkg = sign(&h, &payload(), &key(1));
    assert!(matches!(
        verify(&pkg, &policy(&vk)),
        Err(Error::WrongWasmtime { .. })
    ));

    let mut h = Header::for_payload(Target::Pulley32, "blinky", "blinky", 1, &payload());
    h.profile += 1;
    let pkg = sign(&h, &payload(), &key(1));
    assert!(matches!(
        verify(&pkg, &policy(&vk)),
        Err(Error::WrongProfile { .. })
    ));
}

#[test]
fn oversize_and_foreign_formats_are_refused() {
    let vk = key(1).verifying_key();
    let mut p = policy(&vk);
    p.max_len = 100;
    assert!(matches!(
        verify(&package(1), &p),
        Err(Error::Oversize { .. })
    ));
    let mut pkg = package(1);
    pkg[4..6].copy_from_slice(&(FORMAT + 1).to_le_bytes());
    assert_eq!(
        verify(&pkg, &policy(&vk)).err(),
        Some(Error::UnsupportedFormat(FORMAT + 1))
    );
    assert_eq!(verify(b"garbage that is long enough to be framed as a package at all, really it is long enough", &policy(&vk)).err(), Some(Error::BadMagic));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, .. ProptestConfig::default() })]

    /// The parser never panics on arbitrary bytes.
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse(&bytes);
    }

    /// Arbitrary damage to a real package never verifies and never panics.
    #[test]
    fn damaged_packages_never_verify(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let vk = key(1).verifying_key();
        let mut pkg = package(1);
        let original = pkg.clone();
        for (at, byte) in edits {
            let i = at.index(pkg.len());
            pkg[i] = byte;
        }
        prop_assume!(pkg != original);
        prop_assert!(verify(&pkg, &policy(&vk)).is_err());
    }
}
