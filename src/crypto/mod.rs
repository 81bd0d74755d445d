//! Personal data at rest: card numbers, ID numbers and the names beside them, encrypted in the
//! store and found again by a keyed hash (issue 18). Pure: no SQL here; the store calls it.
//!
//! # What protects what
//!
//! A district server and its backups (`pg_dump`, SQLite `.backup`, the WAL) are where personal data
//! leaks from. So a sensitive value is written to the store only as ciphertext, and the key lives
//! somewhere the store and its backups are not: a systemd credential, the environment, or a key
//! file of mode 0600 ([`load`]). Whoever has a backup and not the key learns nothing but the
//! length of each value.
//!
//! - **Encryption: XChaCha20-Poly1305** (RustCrypto `chacha20poly1305`), an AEAD: it encrypts *and*
//!   authenticates, so a wrong key, a flipped bit or a value moved from another column is an
//!   error ([`CryptoError::Rejected`]), never garbage that looks like a card number. Chosen over
//!   AES-256-GCM for its 192-bit nonce: each value gets a fresh random nonce, and at that size
//!   random nonces never repeat in practice (AES-GCM's 96-bit random nonces are good for about
//!   2³² messages per key, which re-encryption of many provinces' terms must then count). It is
//!   also constant-time in plain software, so a server or VM without AES-NI is no weaker, and
//!   for values of 20 bytes the speed of the cipher is not what costs (see the throughput test).
//! - **Associated data.** The caller names what a value *is* (`"card_number"`, see [`purpose`]);
//!   that name is authenticated with the ciphertext but not stored. A card-number ciphertext
//!   copied into the ID-number column, or into a name, does not decrypt there.
//! - **Look-up hash: HMAC-SHA-256, truncated to 128 bits** (32 hex digits; why that is enough:
//!   [`KeyRing::lookup_hash`]), with a key of its own. Equality
//!   look-ups (the same student twice, a card shared between holders, the card in a bank's
//!   answer) compare hashes, never clear values, and the ciphertext cannot serve (its random
//!   nonce makes two encryptions of one number differ). A card number has little entropy: a
//!   plain SHA-256 would be reversed by trying every number of a bank's BIN; the key stops that.
//!
//! # The stored text (the store has TEXT columns only)
//!
//! ```text
//! v<N>:<base64url without padding of: nonce (24 bytes) ‖ ciphertext (as long as the value) ‖ tag (16 bytes)>
//! v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYX4TpbdLQavcpb9azwqKQMSBPx-v3eXD9XndNd7pVe6AmAtxs   (a card number)
//! ```
//!
//! `v` names this format (XChaCha20-Poly1305, nonce first, tag last); `N` (1 to 999,999,999,
//! decimal, no leading zero) is the **key version** that encrypted it, so decryption picks the key
//! by the value and values under old and new keys live side by side during a rotation. The key
//! version is also bound into the associated data (`"aidpay\0" ‖ N as 4 bytes big-endian ‖
//! purpose`), so editing the prefix is an error like any other tampering. A card number of 19
//! digits is 82 characters stored, an 18-digit ID number 81.
//!
//! A clear card or ID number (digits, `X`) or a person's name never begins `v<digits>:`, so
//! [`is_encrypted`] tells legacy clear values from encrypted ones by the prefix alone. Any text
//! with the prefix is treated as ciphertext: if it is damaged, decryption fails loudly rather than
//! the migration taking it for a clear value and encrypting it. In SQL, `col LIKE 'v%:%'` finds
//! the encrypted card and ID numbers (neither has a `v` or a `:` in clear) and
//! `col NOT LIKE 'v7:%'` the values a rotation to version 7 has still to do.
//!
//! # The key file
//!
//! ```text
//! # comments and blank lines are ignored
//! aidpay-hash-key <64 hex digits>
//! aidpay-data-key v1 <64 hex digits>
//! aidpay-data-key v2 <64 hex digits>
//! ```
//!
//! One `aidpay-hash-key` line, one `aidpay-data-key` line per key version; the highest version
//! encrypts, every version decrypts. The keys are 32 random bytes each from the operating system
//! ([`init_key_file`]). The hash key is a separate key in the file rather than one derived from a
//! data key, so that removing an old data key after a rotation can never change a look-up hash.
//! **A rotation adds a data key and leaves the hash key alone**: re-encryption changes every
//! ciphertext but no look-up hash, so indexes and equality look-ups keep working throughout.
//! Changing the hash key is a different operation (every hash recomputed from decrypted
//! values); nothing here does it.
//!
//! # Where the key comes from ([`load`]), first found wins
//!
//! 1. the systemd credential `data_key` (`$CREDENTIALS_DIRECTORY/data_key`), or `aidpay_data_key`,
//!    the name a unit's `LoadCredential=aidpay:/etc/aidpay/credentials` gives the folder's file
//!    `data_key`;
//! 2. the environment variable `AIDPAY_DATA_KEY`, holding the key file's *content* (tests, the
//!    demo, containers: no file to leave behind);
//! 3. the file named by `[security] data_key_file`, which must be mode 0600 (no group or other
//!    permission at all): a key anyone else may read is refused with the `chmod 600` to run.
//!
//! Never from the configuration file itself, and no message ever carries key material or a
//! value: errors name the source, the line and the reason.
//!
//! Masking for people stays in [`crate::domain::card::mask_card`] and
//! [`crate::domain::id_number::mask_id`]; this module only keeps values unreadable at rest.

mod keyfile;
mod keyring;

pub use keyfile::{InitReport, KeySource, RotateReport, init_key_file, load, load_with_env, rotate_key_file};
pub use keyring::KeyRing;

/// The purposes (associated data and hash domains) the store uses. A look-up hash depends on its
/// purpose, so every table that matches card numbers must hash them with the same one: name the
/// *kind* of value, not the column.
pub mod purpose {
    /// An aid card number (digits only, as [`crate::domain::card::CardNumber`] keeps it).
    pub const CARD_NUMBER: &str = "card_number";
    /// A resident ID number (upper-case `X`, as [`crate::domain::id_number::IdNumber`] keeps it).
    pub const ID_NUMBER: &str = "id_number";
    /// The student's name ([`crate::domain::name::normalize_name`] first, if it is hashed).
    pub const STUDENT_NAME: &str = "student_name";
    /// The card holder's name (likewise normalised first, if it is hashed).
    pub const CARD_HOLDER: &str = "card_holder";
    /// The other party's account of a statement entry or its transaction (for a return, the
    /// student's card), as the bank wrote it.
    pub const COUNTERPART: &str = "counterpart";
}

/// Why a stored value could not be encrypted or decrypted. No variant carries the value, clear or
/// not: a clear card number handed to `decrypt` by mistake must not end up in a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The text does not begin `v<N>:`: a clear (legacy) value, or not a stored value at all.
    #[error("not an encrypted value (it does not begin v<version>:)")]
    NotEncrypted,
    /// The value's key version is not in the key ring: a key file older than the store, or the
    /// wrong key file.
    #[error("the value is under key version {0}, which the key file does not have")]
    UnknownVersion(u32),
    /// The text has the prefix but the rest is not what encryption writes (damaged, truncated).
    #[error("damaged encrypted value: {0}")]
    Malformed(&'static str),
    /// Authentication failed: the wrong key, a changed value, or a value from another column.
    #[error("the encrypted value does not open with this key and purpose (wrong key, altered value, or a value of another column)")]
    Rejected,
    /// A value beyond what the cipher takes (256 GiB): never a card, an ID number or a name.
    #[error("the value is too long to encrypt")]
    TooLong,
    /// The operating system's random number generator failed (no nonce, so nothing encrypted).
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

/// Why a key could not be loaded, written or rotated. Names where and why, never key bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No source had a key.
    #[error("no data key: looked for {looked}; make a key file with `aidpay keys init <file>`")]
    Missing { looked: String },
    /// A source exists but cannot be read.
    #[error("data key from {origin}: cannot read it: {reason}")]
    Unreadable { origin: KeySource, reason: String },
    /// A line of a key file is not one of the two kinds of line.
    #[error("data key from {origin}, line {line}: {reason}")]
    Malformed { origin: KeySource, line: usize, reason: String },
    /// The file parses but lacks something (no hash key, no data key).
    #[error("data key from {origin}: {reason}")]
    Incomplete { origin: KeySource, reason: String },
    /// A key file that others may read (or write).
    #[error("data key file {path} is mode {mode:04o}, open to its group or others: run `chmod 600 {path}`")]
    TooOpen { path: String, mode: u32 },
    /// `init` never overwrites a key file: the old one may be the only key to the store.
    #[error("{path} already exists: a key file is never overwritten (it may be the only key to the store's data)")]
    Exists { path: String },
    /// Writing the new file failed; nothing was left half-written in its place.
    #[error("data key file {path}: cannot write it: {reason}")]
    Write { path: String, reason: String },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    /// A rotation past the highest version the stored prefix can carry.
    #[error("no key version left to rotate to (the highest is v999999999)")]
    NoVersionLeft,
}

/// The prefix of a stored value: `v<N>:` with `N` in 1..=999,999,999 and no leading zero.
/// Returns the version and the rest of the text.
fn split_envelope(text: &str) -> Option<(u32, &str)> {
    let rest = text.strip_prefix('v')?;
    let colon = rest.find(':')?;
    let digits = &rest[..colon];
    if digits.is_empty() || digits.len() > 9 || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, &rest[colon + 1..]))
}

/// True when `text` has the form of an encrypted value (`v<N>:…`), false for a clear value.
/// Decides by the prefix only; [`KeyRing::decrypt`] checks the rest.
pub fn is_encrypted(text: &str) -> bool {
    split_envelope(text).is_some()
}

/// The key version a stored value is under, `None` for a clear value.
pub fn key_version(text: &str) -> Option<u32> {
    split_envelope(text).map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_tells_encrypted_from_clear() {
        for clear in ["6222021234567890123", "11010519491231002X", "买买提·艾力", "Anna Smith", "", "v", "v:", "v0:abc", "v01:abc", "vx:abc", "V1:abc", "v1234567890:abc"] {
            assert!(!is_encrypted(clear), "{clear}");
            assert_eq!(key_version(clear), None, "{clear}");
        }
        assert_eq!(key_version("v1:"), Some(1));
        assert_eq!(key_version("v12:AAAA"), Some(12));
        assert_eq!(key_version("v999999999:x"), Some(999_999_999));
    }
}
