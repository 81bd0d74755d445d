//! XLSX grant lists (and the other workbook kinds `aidpay import` hands to calamine by name:
//! .ods for a zip, .xls otherwise) through the code `aidpay import` reads them with.
//! Invariant: no panic, no hang, bounded memory; an error has a reason.
#![no_main]

use aidpay::intake::{ImportOptions, read_grant_list};
use aidpay_fuzz::{SHIPPED, assert_reason, scratch_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let names: &[&str] = if data.starts_with(b"PK") { &["grants.xlsx", "grants.ods"] } else { &["grants.xls"] };
    for name in names {
        let path = scratch_file(name, data);
        let result = read_grant_list(&path, ImportOptions::default(), &SHIPPED.rules, |_line, row| {
            if let Err(e) = row {
                assert!(!e.reason.trim().is_empty(), "a rejected row without a reason");
            }
        });
        if let Err(e) = result {
            assert_reason(&e);
        }
    }
});
