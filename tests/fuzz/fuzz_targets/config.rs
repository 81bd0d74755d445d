//! The configuration: TOML text read and checked as `Config::load` reads and checks
//! config/aidpay.toml (`Config::from_toml`: the `config` crate, serde, then `Config::check`).
//! Invariant: no panic, no hang, bounded memory; an error has a reason.
#![no_main]

use aidpay::config::Config;
use aidpay_fuzz::assert_reason;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::from_toml(text, Path::new("fuzz.toml")) {
        Ok(cfg) => {
            std::hint::black_box(&cfg.banks);
        }
        Err(e) => assert_reason(&e),
    }
});
