//! CSV grant lists (UTF-8 with or without BOM, GBK) through the code `aidpay import` reads them
//! with: the source, the header check, the row parser and the rules that need no store. Each
//! input is read as `--encoding auto` (the default) and as the encoding auto did not pick.
//! Invariant: no panic, no hang, bounded memory; an error has a reason.
#![no_main]

use aidpay::intake::csv::sniff_encoding;
use aidpay::intake::{EncodingChoice, ImportOptions, read_grant_list};
use aidpay_fuzz::{SHIPPED, assert_reason, scratch_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("grants.csv", data);
    let other = if sniff_encoding(&data[..data.len().min(64 * 1024)]) == encoding_rs::UTF_8 { EncodingChoice::Gbk } else { EncodingChoice::Utf8 };
    for encoding in [EncodingChoice::Auto, other] {
        let result = read_grant_list(&path, ImportOptions { encoding }, &SHIPPED.rules, |_line, row| {
            if let Err(e) = row {
                assert!(!e.reason.trim().is_empty(), "a rejected row without a reason");
            }
        });
        if let Err(e) = result {
            assert_reason(&e);
        }
    }
});
