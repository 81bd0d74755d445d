//! camt.053 statements and camt.054 notifications: content detection (src/formats/detect.rs)
//! and the streaming reader (src/formats/camt.rs), as `aidpay ingest` runs them. Invariant: no
//! panic, no hang, bounded memory; an error has a reason.
#![no_main]

use aidpay::formats::{camt, detect};
use aidpay_fuzz::assert_reason;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = detect::detect(&data[..data.len().min(64 * 1024)]);
    let result = camt::read(data, |ev| {
        if let camt::CamtEvent::Entry(e) = &ev {
            std::hint::black_box(e.signed_amount());
        }
        std::hint::black_box(ev);
        Ok::<(), std::convert::Infallible>(())
    });
    if let Err(e) = result {
        assert_reason(&e);
    }
});
