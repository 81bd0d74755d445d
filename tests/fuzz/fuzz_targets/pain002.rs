//! pain.002 status reports: content detection (src/formats/detect.rs) and the streaming reader
//! (src/formats/pain002.rs), as `aidpay ingest` runs them. Invariant: no panic, no hang, bounded
//! memory; an error has a reason.
#![no_main]

use aidpay::formats::{detect, pain002};
use aidpay_fuzz::assert_reason;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = detect::detect(&data[..data.len().min(64 * 1024)]);
    let mut n = 0u64;
    let result = pain002::read(data, |t| {
        n += 1;
        std::hint::black_box(t);
        Ok::<(), std::convert::Infallible>(())
    });
    if let Err(e) = result {
        assert_reason(&e);
    }
});
