//! Domestic result files (src/formats/domestic/result.rs) under every result profile of
//! config/aidpay.toml and fixtures/bank/profiles.toml: the content check `aidpay ingest` detects
//! them with, then the reader, with the batch's references where the bank answers by row number.
//! Invariant: no panic, no hang, bounded memory; an error has a reason.
#![no_main]

use aidpay::formats::domestic::{ResultReader, looks_like};
use aidpay_fuzz::{RESULT_PROFILES, SHIPPED, assert_reason};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (_name, profile) in RESULT_PROFILES.iter() {
        let _ = looks_like(profile, &data[..data.len().min(64 * 1024)]);
        let reader = match ResultReader::new(profile, &SHIPPED.reasons, data) {
            Ok(r) => r,
            Err(e) => {
                assert_reason(&e);
                continue;
            }
        };
        let _ = reader.header();
        let refs: Vec<String> = (1..=20).map(|i| format!("AP{i:012}")).collect();
        for line in reader.with_references(refs) {
            match line {
                Ok(l) => {
                    std::hint::black_box(l);
                }
                Err(e) => assert_reason(&e),
            }
        }
    }
});
