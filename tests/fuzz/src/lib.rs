//! What the fuzz targets share: the shipped configuration (rules, bank profiles, reasons), a
//! scratch file for the readers that take a path, and the invariant that an error has a reason.

use aidpay::config::{BankFormat, Config};
use aidpay::formats::domestic::DomesticProfile;
use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// `config/aidpay.toml` as shipped, read and checked as `Config::load` does.
pub static SHIPPED: LazyLock<Config> = LazyLock::new(|| {
    Config::from_toml(include_str!("../../../config/aidpay.toml"), Path::new("config/aidpay.toml"))
        .unwrap_or_else(|e| panic!("config/aidpay.toml: {e}"))
});

/// Every domestic profile that reads result files: those of `config/aidpay.toml` and of
/// `fixtures/bank/profiles.toml` (keyed `boc`, `icbc`), in a fixed order.
pub static RESULT_PROFILES: LazyLock<Vec<(String, DomesticProfile)>> = LazyLock::new(|| {
    let mut out: Vec<(String, DomesticProfile)> = SHIPPED
        .banks
        .iter()
        .filter_map(|b| match &b.format {
            BankFormat::Domestic(d) if d.result.is_some() => Some((format!("config:{}", b.name), (**d).clone())),
            _ => None,
        })
        .collect();
    let fixtures: HashMap<String, DomesticProfile> = config::Config::builder()
        .add_source(config::File::from_str(include_str!("../../../fixtures/bank/profiles.toml"), config::FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize())
        .unwrap_or_else(|e| panic!("fixtures/bank/profiles.toml: {e}"));
    let mut fixtures: Vec<_> = fixtures.into_iter().filter(|(_, p)| p.result.is_some()).collect();
    fixtures.sort_by(|a, b| a.0.cmp(&b.0));
    out.extend(fixtures.into_iter().map(|(n, p)| (format!("fixtures:{n}"), p)));
    assert!(!out.is_empty(), "no domestic result profile to fuzz");
    out
});

/// The invariant for every error a reader returns: it says why (a non-empty message).
pub fn assert_reason(e: &dyn Display) {
    let text = e.to_string();
    assert!(!text.trim().is_empty(), "an error without a reason");
}

/// Writes `data` to a scratch file of this process named `name` (the extension matters to the
/// grant-list reader) and returns its path. Put TMPDIR on a tmpfs (/dev/shm) for speed.
pub fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
        let d = std::env::temp_dir().join(format!("aidpay-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    });
    let path = DIR.join(name);
    std::fs::write(&path, data).expect("scratch file");
    path
}
