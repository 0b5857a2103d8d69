//! The `.bjpkg` parser and verifier on mutations of real signed packages.
//! Asserted: `verify` accepts only byte-for-byte what was signed by the key
//! (the seeds), never anything under another key, and what it accepts is
//! consistent with its header; `parse` never panics.
#![no_main]

use std::sync::LazyLock;

use belljar_fuzz::common::{key, package_for, payload, verifying_key};
use belljar_package::ed25519_dalek::SigningKey;
use belljar_package::{Capabilities, Header, Policy, parse, sign, verify};
use belljar_profile::Target;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

/// Everything the trusted key ever signed in this target.
static SIGNED: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut out = vec![
        package_for(Target::Pulley32, "app-a", 1, &payload(40, 1), &key()),
        package_for(Target::Pulley64, "blinky", 7, &payload(300, 2), &key()),
        package_for(Target::Pulley32, "empty", 2, &[], &key()),
    ];
    let body = payload(64, 3);
    let mut header = Header::for_payload(Target::Pulley32, "blinky", "caps", 9, &body);
    header.capabilities = Capabilities {
        interfaces: vec![
            "embedded:platform/gpio".into(),
            "embedded:platform/i2c".into(),
        ],
        outputs: vec![25, 2],
        inputs: vec![15],
        analog: vec![0, 1],
        i2c: vec![("i2c0".into(), 0x3c)],
        spi: vec!["spi0".into()],
        memory: Some(16 * 1024),
    };
    out.push(sign(&header, &body, &key()));
    // Signed, but refused by the policy: another engine.
    header.wasmtime = "0.0.1".into();
    out.push(sign(&header, &body, &key()));
    out
});

static OTHER_KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::from_bytes(&[9u8; 32]));

fuzz_target!(
    init: {
        let mut seeds = SIGNED.clone();
        // Signed by another key: the mutator gets the framing, never the key.
        seeds.push(package_for(Target::Pulley32, "evil", 99, &payload(40, 5), &OTHER_KEY));
        belljar_fuzz::write_seeds(seeds);
    },
    |data: &[u8]| {
        let trusted = verifying_key();
        let _ = parse(data);
        for target in [Target::Pulley32, Target::Pulley64] {
            let policy = Policy {
                key: &trusted,
                target,
                installed: None,
                allow_downgrade: false,
                max_len: 64 * 1024,
            };
            let Ok(ok) = verify(data, &policy) else { continue };
            assert!(
                SIGNED.iter().any(|s| s == data),
                "verify accepted bytes that were never signed: {data:02x?}"
            );
            let header = &ok.header;
            assert_eq!(header.payload_len as usize, ok.payload.len());
            assert_eq!(Sha256::digest(ok.payload).as_slice(), header.payload_sha256);
            assert_eq!(Target::from_triple(&header.target), Some(target));
            assert_eq!(header.wasmtime, belljar_profile::ARTIFACT_VERSION);
            // The payload is the bytes before the signature.
            let end = data.len() - belljar_package::SIGNATURE_LEN;
            assert!(std::ptr::eq(ok.payload, &data[end - ok.payload.len()..end]));
            // Anti-rollback holds for what verified.
            let newer = Policy { installed: Some(header.version + 1), ..policy };
            assert!(verify(data, &newer).is_err());
            let allowed = Policy { allow_downgrade: true, ..newer };
            assert!(verify(data, &allowed).is_ok());
        }
        let other = OTHER_KEY.verifying_key();
        let policy = Policy {
            key: &other,
            target: Target::Pulley32,
            installed: None,
            allow_downgrade: true,
            max_len: usize::MAX,
        };
        if verify(data, &policy).is_ok() {
            // The only packages the other key signed are the seed above.
            assert_eq!(
                data,
                package_for(Target::Pulley32, "evil", 99, &payload(40, 5), &OTHER_KEY)
            );
        }
    }
);
