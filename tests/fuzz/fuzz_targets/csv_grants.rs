//! CSV grant lists (UTF-8 with or without BOM, GBK) through the code `aidpay import` reads them
//! with: the source, the header check, the row parser and the rules that need no store, under
//! each `--encoding` choice. Invariant: no panic, no hang, bounded memory; an error has a reason.
#![no_main]

use aidpay::intake::{EncodingChoice, ImportOptions, read_grant_list};
use aidpay_fuzz::{SHIPPED, assert_reason, scratch_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("grants.csv", data);
    for encoding in [EncodingChoice::Auto, EncodingChoice::Utf8, EncodingChoice::Gbk] {
        let result = read_grant_list(&path, ImportOptions { encoding }, &SHIPPED.rules, |_line, row| {
            if let Err(e) = row {
                assert!(!e.column.is_empty() || !e.reason.is_empty());
                assert!(!e.reason.trim().is_empty(), "a rejected row without a reason");
            }
        });
        if let Err(e) = result {
            assert_reason(&e);
        }
    }
});
