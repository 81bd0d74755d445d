//! The key ring: every data key version plus the hash key, and what is done with them
//! (encrypt, decrypt, look-up hash, re-encrypt). Also the key file's text, read and written.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{CryptoError, KeyError, KeySource, split_envelope};

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
/// The highest key version the stored prefix can carry (nine decimal digits).
const MAX_VERSION: u32 = 999_999_999;

const DATA_KEY_WORD: &str = "aidpay-data-key";
const HASH_KEY_WORD: &str = "aidpay-hash-key";

/// One data key version: its bytes (for writing the key file back) and the cipher made of them.
/// Both are wiped when dropped (`Zeroizing`; the cipher with the crate's `zeroize` feature).
struct DataKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    cipher: XChaCha20Poly1305,
}

impl DataKey {
    fn new(bytes: [u8; KEY_LEN]) -> DataKey {
        let bytes = Zeroizing::new(bytes);
        let cipher = XChaCha20Poly1305::new((&*bytes).into());
        DataKey { bytes, cipher }
    }
}

/// The keys loaded from a key file: data key versions (the highest encrypts, all decrypt) and
/// the look-up hash key. `Debug` shows versions and key ids, never key bytes; the bytes are
/// wiped on drop. Immutable once loaded (share it with `Arc`), except [`KeyRing::add_version`].
pub struct KeyRing {
    data: BTreeMap<u32, DataKey>,
    hash_key: Zeroizing<[u8; KEY_LEN]>,
    /// HMAC state after absorbing the key (ipad/opad blocks): cloned per hash, which saves two
    /// of the four SHA-256 blocks a short value costs. Wiped on drop (`sha2`'s `zeroize`: the two SHA-256 states).
    hasher: Hmac<Sha256>,
}

fn random_key() -> Result<[u8; KEY_LEN], KeyError> {
    let mut k = [0u8; KEY_LEN];
    getrandom::fill(&mut k).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(k)
}

/// A short, one-way id of a key (the first 8 bytes of HMAC-SHA-256(key, "aidpay key id"), in
/// hex): lets an administrator or the store tell which key is loaded without showing it.
fn key_id(key: &[u8; KEY_LEN]) -> String {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(b"aidpay key id");
    hex::encode(&m.finalize().into_bytes()[..8])
}

/// The associated data actually authenticated: a fixed label, the key version, the purpose.
/// The purpose goes last, so no length prefix is needed for the encoding to be unambiguous.
fn associated_data(version: u32, purpose: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(11 + purpose.len());
    ad.extend_from_slice(b"aidpay\0");
    ad.extend_from_slice(&version.to_be_bytes());
    ad.extend_from_slice(purpose.as_bytes());
    ad
}

/// How many bytes of the HMAC-SHA-256 a look-up hash keeps: 16 (128 bits), written as 32 hex
/// digits. See [`KeyRing::lookup_hash`] for why that is enough.
pub const LOOKUP_HASH_BYTES: usize = 16;

/// A fresh random nonce from the thread's CSPRNG (`rand::rng()`: ChaCha12 seeded from the
/// operating system, and reseeded from it every 64 KiB of output). XChaCha20's 192-bit nonce
/// is what makes random nonces safe at all: the chance that two of 2⁴⁰ values share one is
/// about 2⁻¹¹³. What a nonce must be is unpredictable-enough-never-to-repeat, not secret, and a
/// CSPRNG gives that as well as the kernel does — without a `getrandom` system call for every
/// value (six per imported grant, a few million for a province's term).
fn fresh_nonce(nonce: &mut [u8]) {
    use rand::RngCore as _;
    rand::rng().fill_bytes(nonce);
}

impl KeyRing {
    /// A new ring from the operating system's random number generator: a hash key and data key
    /// version 1.
    pub fn generate() -> Result<KeyRing, KeyError> {
        let mut data = BTreeMap::new();
        data.insert(1, DataKey::new(random_key()?));
        Ok(KeyRing::assemble(data, random_key()?))
    }

    fn assemble(data: BTreeMap<u32, DataKey>, hash_key: [u8; KEY_LEN]) -> KeyRing {
        let hash_key = Zeroizing::new(hash_key);
        let hasher = <Hmac<Sha256> as KeyInit>::new_from_slice(&*hash_key).expect("HMAC takes any key length");
        KeyRing { data, hash_key, hasher }
    }

    /// Reads a key file's text. `origin` is only for the error messages (which name the line and
    /// the reason, never the line's content: a mistyped line may still hold a key).
    pub fn from_key_file(text: &str, origin: &KeySource) -> Result<KeyRing, KeyError> {
        let malformed = |line: usize, reason: String| KeyError::Malformed { origin: origin.clone(), line, reason };
        let mut data: BTreeMap<u32, DataKey> = BTreeMap::new();
        let mut hash: Option<(usize, [u8; KEY_LEN])> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim_start_matches('\u{feff}').trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                [w, version, key] if *w == DATA_KEY_WORD => {
                    let v = parse_version(version).map_err(|r| malformed(line, r))?;
                    let k = parse_key(key).map_err(|r| malformed(line, r))?;
                    if data.contains_key(&v) {
                        return Err(malformed(line, format!("key version v{v} appears twice")));
                    }
                    data.insert(v, DataKey::new(k));
                }
                [w, key] if *w == HASH_KEY_WORD => {
                    let k = parse_key(key).map_err(|r| malformed(line, r))?;
                    if let Some((first, _)) = hash {
                        return Err(malformed(line, format!("a second {HASH_KEY_WORD} (the first is on line {first}); a file has one")));
                    }
                    hash = Some((line, k));
                }
                [w, ..] if *w == DATA_KEY_WORD => {
                    return Err(malformed(line, format!("expected `{DATA_KEY_WORD} v<N> <64 hex digits>` (three words)")));
                }
                [w, ..] if *w == HASH_KEY_WORD => {
                    return Err(malformed(line, format!("expected `{HASH_KEY_WORD} <64 hex digits>` (two words)")));
                }
                _ => {
                    return Err(malformed(
                        line,
                        format!("expected `{DATA_KEY_WORD} v<N> <64 hex digits>`, `{HASH_KEY_WORD} <64 hex digits>`, a comment (#) or nothing"),
                    ));
                }
            }
        }
        let incomplete = |reason: String| KeyError::Incomplete { origin: origin.clone(), reason };
        let Some((_, hash_key)) = hash else {
            return Err(incomplete(format!("no `{HASH_KEY_WORD}` line")));
        };
        if data.is_empty() {
            return Err(incomplete(format!("no `{DATA_KEY_WORD}` line")));
        }
        // A copy-paste that put one key in two places would tie the look-up hashes to a data key.
        if data.values().any(|d| *d.bytes == hash_key) {
            return Err(incomplete("the hash key equals a data key; they must be separate keys".into()));
        }
        Ok(KeyRing::assemble(data, hash_key))
    }

    /// The key file's text for this ring (what [`super::init_key_file`] writes). Wiped on drop.
    pub fn to_key_file(&self) -> Zeroizing<String> {
        const HEADER: &str = "# aidpay data key file. Keep it secret: mode 0600, never in the configuration file, the store or its backups.\n\
             # aidpay-hash-key: the look-up hash key (a rotation keeps it); aidpay-data-key vN: the encryption keys,\n\
             # the highest version encrypts, every version decrypts. Losing this file loses the encrypted data.\n";
        // Sized up front and written in place: no reallocation or temporary leaves key hex behind.
        let mut s = Zeroizing::new(String::with_capacity(HEADER.len() + (self.data.len() + 1) * 100));
        s.push_str(HEADER);
        s.push_str(HASH_KEY_WORD);
        s.push(' ');
        push_hex(&mut s, &*self.hash_key);
        s.push('\n');
        for v in self.data.keys() {
            self.push_data_key_line(&mut s, *v);
        }
        s
    }

    /// Appends the key file line of one data key version (`aidpay-data-key vN <hex>\n`).
    pub(super) fn push_data_key_line(&self, s: &mut String, version: u32) {
        if let Some(d) = self.data.get(&version) {
            s.push_str(DATA_KEY_WORD);
            s.push_str(" v");
            s.push_str(&version.to_string());
            s.push(' ');
            push_hex(s, &*d.bytes);
            s.push('\n');
        }
    }

    /// The version new values are encrypted under: the highest.
    pub fn current_version(&self) -> u32 {
        *self.data.keys().next_back().expect("a key ring has at least one data key")
    }

    /// Every data key version, lowest first.
    pub fn versions(&self) -> Vec<u32> {
        self.data.keys().copied().collect()
    }

    /// The id of a data key version (see [`KeyRing::hash_key_id`]).
    pub fn data_key_id(&self, version: u32) -> Option<String> {
        self.data.get(&version).map(|d| key_id(&d.bytes))
    }

    /// A one-way id of the hash key (16 hex digits). The store can record it at `keys init` and
    /// compare it at start-up: a different key file is then refused before anything is written.
    pub fn hash_key_id(&self) -> String {
        key_id(&self.hash_key)
    }

    /// Rotation: adds a new random data key as the next version, which from now on encrypts.
    /// Old versions stay (their values must stay readable until re-encrypted); the hash key
    /// stays, so no look-up hash changes. Returns the new version.
    pub fn add_version(&mut self) -> Result<u32, KeyError> {
        let v = self.current_version().checked_add(1).filter(|v| *v <= MAX_VERSION).ok_or(KeyError::NoVersionLeft)?;
        self.data.insert(v, DataKey::new(random_key()?));
        Ok(v)
    }

    /// Encrypts `plaintext` under the current version with a fresh random nonce, bound to
    /// `purpose` (see [`super::purpose`]). Two calls on the same text give different results.
    pub fn encrypt(&self, plaintext: &str, purpose: &str) -> Result<String, CryptoError> {
        let version = self.current_version();
        let key = &self.data[&version];
        let mut buf = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        buf.resize(NONCE_LEN, 0);
        fresh_nonce(&mut buf[..NONCE_LEN]);
        buf.extend_from_slice(plaintext.as_bytes());
        let (nonce, body) = buf.split_at_mut(NONCE_LEN);
        let nonce = XNonce::try_from(&*nonce).expect("24 bytes");
        let tag = key
            .cipher
            .encrypt_inout_detached(&nonce, &associated_data(version, purpose), body.into())
            // Only a plaintext beyond 256 GiB is refused.
            .map_err(|_| CryptoError::TooLong)?;
        buf.extend_from_slice(&tag);
        let mut out = String::with_capacity(12 + (buf.len() * 4).div_ceil(3));
        out.push('v');
        out.push_str(&version.to_string());
        out.push(':');
        URL_SAFE_NO_PAD.encode_string(&buf, &mut out);
        Ok(out)
    }

    /// Decrypts a stored value with the key its prefix names, checking it was encrypted for
    /// `purpose`. A wrong key, any altered character or another purpose is
    /// [`CryptoError::Rejected`]; a clear value is [`CryptoError::NotEncrypted`].
    pub fn decrypt(&self, stored: &str, purpose: &str) -> Result<String, CryptoError> {
        let (version, body) = split_envelope(stored).ok_or(CryptoError::NotEncrypted)?;
        let key = self.data.get(&version).ok_or(CryptoError::UnknownVersion(version))?;
        let mut buf = URL_SAFE_NO_PAD.decode(body).map_err(|_| CryptoError::Malformed("not base64url"))?;
        if buf.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed("too short to hold a nonce and a tag"));
        }
        let (nonce, rest) = buf.split_at_mut(NONCE_LEN);
        let (body, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        let nonce = XNonce::try_from(&*nonce).expect("24 bytes");
        let tag = Tag::try_from(&*tag).expect("16 bytes");
        key.cipher
            .decrypt_inout_detached(&nonce, &associated_data(version, purpose), body.into(), &tag)
            .map_err(|_| CryptoError::Rejected)?;
        let len = body.len();
        buf.drain(..NONCE_LEN);
        buf.truncate(len);
        // Authentic, so it is what `encrypt` was given: a `&str`. Checked anyway, never unsafe.
        String::from_utf8(buf).map_err(|_| CryptoError::Malformed("not UTF-8 text"))
    }

    /// The look-up hash of `value` for equality look-ups: HMAC-SHA-256 under the hash key of
    /// `"aidpay-lookup\0" ‖ len(purpose) as 4 bytes big-endian ‖ purpose ‖ value`, its first
    /// [`LOOKUP_HASH_BYTES`] (16) bytes as 32 lower-case hex digits. Deterministic (that is its
    /// point), the same under every data key version, and different per purpose (an ID number
    /// and a card number with the same digits do not match). Hash the canonical form:
    /// `CardNumber::as_str`, `IdNumber::as_str`, `normalize_name`.
    ///
    /// **Why 128 bits are enough.** The hash does two things. (1) It must not let someone with
    /// the store but not the hash key find the number: that rests on the key (HMAC is a PRF), and
    /// a truncated PRF output is still a PRF output — fewer bits tell an attacker less, not more
    /// (HMAC-SHA-256-128 is the truncation RFC 2104 §5 and RFC 4868 allow). (2) Two different
    /// numbers must not collide, or a card would look shared or a student enrolled twice: among
    /// 10⁸ values (a hundred provinces' terms) the chance of any collision is about
    /// 10¹⁶ / 2¹²⁹ ≈ 10⁻²³. The full 256 bits (64 hex digits, as before migration 0010) only made
    /// every index entry and row 32 bytes longer: at a million grants the three hash indexes
    /// (now `grants_id_key`, `grants_card_key` — 64-bit prefixes of the hash since migration
    /// 0016 — and `cards`) are written in random order, and their size against SQLite's page
    /// cache is much of what the import's time goes on.
    pub fn lookup_hash(&self, purpose: &str, value: &str) -> String {
        let mut m = self.hasher.clone();
        m.update(b"aidpay-lookup\0");
        m.update(&u32::try_from(purpose.len()).unwrap_or(u32::MAX).to_be_bytes());
        m.update(purpose.as_bytes());
        m.update(value.as_bytes());
        hex::encode(&m.finalize().into_bytes()[..LOOKUP_HASH_BYTES])
    }

    /// True when `stored` is not under the current version: a clear value, an older version, or
    /// a version this ring lacks (then [`KeyRing::reencrypt`] says so). The test a resumable
    /// migration or rotation loop makes for each value; it reads the prefix only (no decryption),
    /// so a damaged value under the current version shows when it is decrypted.
    pub fn needs_reencrypt(&self, stored: &str) -> bool {
        super::key_version(stored) != Some(self.current_version())
    }

    /// `stored` under the current version: an encrypted value is decrypted (with the key its
    /// prefix names) and encrypted again; a clear value (see [`super::is_encrypted`]) is
    /// encrypted. So one loop serves the first migration of a clear store and every rotation:
    /// `if ring.needs_reencrypt(v) { v = ring.reencrypt(v, purpose)? }`.
    pub fn reencrypt(&self, stored: &str, purpose: &str) -> Result<String, CryptoError> {
        if super::is_encrypted(stored) {
            let clear = Zeroizing::new(self.decrypt(stored, purpose)?);
            self.encrypt(&clear, purpose)
        } else {
            self.encrypt(stored, purpose)
        }
    }
}

/// Lower-case hex straight into `s` (no temporary string holding the key).
fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
}

fn parse_version(word: &str) -> Result<u32, String> {
    let digits = word.strip_prefix('v').ok_or("the key version must be written v<N> (v1, v2, …)")?;
    if digits.is_empty() || digits.starts_with('0') || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the key version must be written v<N>, N from 1 to 999999999 without leading zeros".into());
    }
    digits.parse().map_err(|_| "the key version is not a number".into())
}

fn parse_key(word: &str) -> Result<[u8; KEY_LEN], String> {
    if word.len() != 2 * KEY_LEN {
        return Err(format!("the key is {} characters long, expected {} hex digits (32 bytes)", word.chars().count(), 2 * KEY_LEN));
    }
    let mut k = [0u8; KEY_LEN];
    hex::decode_to_slice(word, &mut k).map_err(|_| "the key has a character that is not a hex digit".to_string())?;
    Ok(k)
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: BTreeMap<u32, String> = self.data.iter().map(|(v, d)| (*v, key_id(&d.bytes))).collect();
        f.debug_struct("KeyRing")
            .field("current_version", &self.current_version())
            .field("data_key_ids", &ids)
            .field("hash_key_id", &self.hash_key_id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{is_encrypted, key_version, purpose};
    use super::*;
    use proptest::prelude::*;

    fn origin() -> KeySource {
        KeySource::File("test.key".into())
    }

    fn ring() -> KeyRing {
        KeyRing::generate().unwrap()
    }

    #[test]
    fn round_trip_and_a_fresh_nonce_each_time() {
        let r = ring();
        let card = "6222021234567890123";
        let a = r.encrypt(card, purpose::CARD_NUMBER).unwrap();
        let b = r.encrypt(card, purpose::CARD_NUMBER).unwrap();
        assert_ne!(a, b, "same plaintext, same ciphertext: the nonce repeated");
        assert!(a.starts_with("v1:") && is_encrypted(&a) && key_version(&a) == Some(1));
        assert!(!a.contains(card));
        assert_eq!(r.decrypt(&a, purpose::CARD_NUMBER).unwrap(), card);
        assert_eq!(r.decrypt(&b, purpose::CARD_NUMBER).unwrap(), card);
        // The sizes the module doc promises.
        assert_eq!(a.len(), 82);
        assert_eq!(r.encrypt("11010519491231002X", purpose::ID_NUMBER).unwrap().len(), 81);
        assert!(a[3..].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    /// Nonces come from a per-thread CSPRNG now (not one `getrandom` call each): still never
    /// repeated, across values and across threads.
    #[test]
    fn nonces_never_repeat_across_values_and_threads() {
        let r = std::sync::Arc::new(ring());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || {
                    (0..25_000)
                        .map(|_| URL_SAFE_NO_PAD.decode(&r.encrypt("6222021234567890123", purpose::CARD_NUMBER).unwrap()[3..]).unwrap()[..NONCE_LEN].to_vec())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = std::collections::HashSet::new();
        for t in threads {
            for n in t.join().unwrap() {
                assert!(all.insert(n), "a nonce repeated");
            }
        }
        assert_eq!(all.len(), 100_000);
    }

    #[test]
    fn the_same_value_hashes_alike_and_purposes_differ() {
        let r = ring();
        let h = r.lookup_hash(purpose::CARD_NUMBER, "6222021234567890123");
        assert_eq!(h, r.lookup_hash(purpose::CARD_NUMBER, "6222021234567890123"));
        assert_eq!(h.len(), 2 * LOOKUP_HASH_BYTES);
        assert!(h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_ne!(h, r.lookup_hash(purpose::CARD_NUMBER, "6222021234567890124"));
        assert_ne!(h, r.lookup_hash(purpose::ID_NUMBER, "6222021234567890123"));
        // Another key file: other hashes (the key is what stops a dictionary of card numbers).
        assert_ne!(h, ring().lookup_hash(purpose::CARD_NUMBER, "6222021234567890123"));
        // "ab" + "c" must not collide with "a" + "bc" across purpose and value.
        assert_ne!(r.lookup_hash("ab", "c"), r.lookup_hash("a", "bc"));
    }

    /// Known answers computed outside this code (Python: `hmac`/`hashlib`, and `cryptography`'s
    /// ChaCha20-Poly1305 after an HChaCha20 checked against the XChaCha draft's vector). They pin
    /// the formats: a change here would orphan every value and hash already stored.
    #[test]
    fn known_answers_pin_the_stored_formats() {
        let text = format!("{HASH_KEY_WORD} {}\n{DATA_KEY_WORD} v1 {}\n", "11".repeat(32), "22".repeat(32));
        let r = KeyRing::from_key_file(&text, &origin()).unwrap();
        assert_eq!(
            r.lookup_hash(purpose::CARD_NUMBER, "6222021234567890123"),
            // The first 16 bytes of the full HMAC 16bd…6a3 (what stores before migration 0010 held:
            // that migration keeps their first 32 hex digits, so their look-ups still match).
            &"16bd0cda689b5292972c1cb0748cefaa6263afbbf623ebc2177a23b7aaeee6a3"[..32]
        );
        assert_eq!(r.hash_key_id(), "b434e724a3993849");
        assert_eq!(r.data_key_id(1).unwrap(), "047ada1be4c68018");
        // Nonce 00 01 … 17, data key 22…22, version 1.
        let card = "v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYX4TpbdLQavcpb9azwqKQMSBPx-v3eXD9XndNd7pVe6AmAtxs";
        assert_eq!(r.decrypt(card, purpose::CARD_NUMBER).unwrap(), "6222021234567890123");
        let name = "v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXM7HZoj2Yanf4Ay4uFiLQ8rmKGZ3BGNpcQZYXmS1HQEBl";
        assert_eq!(r.decrypt(name, purpose::CARD_HOLDER).unwrap(), "买买提·艾力");
        assert_eq!(r.decrypt(name, purpose::STUDENT_NAME), Err(CryptoError::Rejected));
    }

    #[test]
    fn wrong_key_tampering_and_another_purpose_are_errors() {
        let r = ring();
        let v = r.encrypt("11010519491231002X", purpose::ID_NUMBER).unwrap();
        // Another column.
        assert_eq!(r.decrypt(&v, purpose::CARD_NUMBER), Err(CryptoError::Rejected));
        // Another key file with the same version number.
        assert_eq!(ring().decrypt(&v, purpose::ID_NUMBER), Err(CryptoError::Rejected));
        // Every single character changed in turn.
        for i in 3..v.len() {
            let mut t = v.clone().into_bytes();
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(t).unwrap();
            let e = r.decrypt(&t, purpose::ID_NUMBER).unwrap_err();
            assert!(matches!(e, CryptoError::Rejected | CryptoError::Malformed(_)), "{i}: {e:?}");
        }
        // Truncated, extended, re-labelled, a clear value.
        for cut in 1..v.len() - 3 {
            assert!(r.decrypt(&v[..v.len() - cut], purpose::ID_NUMBER).is_err(), "cut {cut}");
        }
        assert!(r.decrypt(&format!("{v}A"), purpose::ID_NUMBER).is_err());
        assert!(r.decrypt(&format!("{v}AAAA"), purpose::ID_NUMBER).is_err());
        assert_eq!(r.decrypt("v1:AAAA", purpose::ID_NUMBER), Err(CryptoError::Malformed("too short to hold a nonce and a tag")));
        assert_eq!(r.decrypt("v1:not base64!", purpose::ID_NUMBER), Err(CryptoError::Malformed("not base64url")));
        assert_eq!(r.decrypt(&v.replacen("v1:", "v2:", 1), purpose::ID_NUMBER), Err(CryptoError::UnknownVersion(2)));
        assert_eq!(r.decrypt("11010519491231002X", purpose::ID_NUMBER), Err(CryptoError::NotEncrypted));
        // No error message carries the value.
        assert!(!CryptoError::NotEncrypted.to_string().contains("1101"));
    }

    #[test]
    fn a_relabelled_version_does_not_open_under_the_other_key() {
        // The version is bound into the associated data: moving a v1 value to v2's label fails
        // even if someone had made both versions' keys equal.
        let text = format!(
            "{HASH_KEY_WORD} {}\n{DATA_KEY_WORD} v1 {k}\n{DATA_KEY_WORD} v2 {k}\n",
            "11".repeat(32),
            k = "22".repeat(32)
        );
        let r = KeyRing::from_key_file(&text, &origin()).unwrap();
        let v = r.encrypt("张三", purpose::CARD_HOLDER).unwrap();
        assert!(v.starts_with("v2:"));
        assert_eq!(r.decrypt(&v.replacen("v2:", "v1:", 1), purpose::CARD_HOLDER), Err(CryptoError::Rejected));
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_hashes_unchanged() {
        let mut r = ring();
        let card = "6222021234567890123";
        let old = r.encrypt(card, purpose::CARD_NUMBER).unwrap();
        let hash = r.lookup_hash(purpose::CARD_NUMBER, card);
        let id1 = r.data_key_id(1).unwrap();
        assert!(!r.needs_reencrypt(&old));

        assert_eq!(r.add_version().unwrap(), 2);
        assert_eq!(r.current_version(), 2);
        assert_eq!(r.versions(), vec![1, 2]);
        assert_eq!(r.data_key_id(1).unwrap(), id1);
        assert_ne!(r.data_key_id(2).unwrap(), id1);
        assert_eq!(r.decrypt(&old, purpose::CARD_NUMBER).unwrap(), card);
        assert!(r.needs_reencrypt(&old));
        let new = r.reencrypt(&old, purpose::CARD_NUMBER).unwrap();
        assert_eq!(key_version(&new), Some(2));
        assert!(!r.needs_reencrypt(&new));
        assert_eq!(r.decrypt(&new, purpose::CARD_NUMBER).unwrap(), card);
        assert_eq!(r.encrypt(card, purpose::CARD_NUMBER).unwrap()[..3], *"v2:");
        assert_eq!(r.lookup_hash(purpose::CARD_NUMBER, card), hash, "a rotation changed a look-up hash");

        // Written out and read back: both versions, the same hash key.
        let back = KeyRing::from_key_file(&r.to_key_file(), &origin()).unwrap();
        assert_eq!(back.versions(), vec![1, 2]);
        assert_eq!(back.decrypt(&old, purpose::CARD_NUMBER).unwrap(), card);
        assert_eq!(back.decrypt(&new, purpose::CARD_NUMBER).unwrap(), card);
        assert_eq!(back.lookup_hash(purpose::CARD_NUMBER, card), hash);

        // A ring that lost version 1 says which version it misses.
        let mut only2 = format!("{HASH_KEY_WORD} {}\n", hex::encode(*r.hash_key));
        r.push_data_key_line(&mut only2, 2);
        let only2 = KeyRing::from_key_file(&only2, &origin()).unwrap();
        assert_eq!(only2.decrypt(&old, purpose::CARD_NUMBER), Err(CryptoError::UnknownVersion(1)));
        assert_eq!(only2.reencrypt(&old, purpose::CARD_NUMBER), Err(CryptoError::UnknownVersion(1)));
    }

    #[test]
    fn reencrypt_encrypts_a_clear_value_and_refuses_a_damaged_one() {
        let r = ring();
        assert!(r.needs_reencrypt("6222021234567890123"));
        let v = r.reencrypt("6222021234567890123", purpose::CARD_NUMBER).unwrap();
        assert_eq!(r.decrypt(&v, purpose::CARD_NUMBER).unwrap(), "6222021234567890123");
        // A damaged ciphertext is never taken for a clear value and encrypted as such.
        assert!(r.needs_reencrypt("v7:AAAA"));
        assert_eq!(r.reencrypt("v7:AAAA", purpose::CARD_NUMBER), Err(CryptoError::UnknownVersion(7)));
        assert!(r.reencrypt("v1:AAAA", purpose::CARD_NUMBER).is_err());
        // `needs_reencrypt` reads the prefix only: a damaged value of the current version is
        // found when it is read, not by the rotation loop.
        assert!(!r.needs_reencrypt("v1:AAAA"));
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let mut r = ring();
        r.add_version().unwrap();
        let d = format!("{r:?} {r:#?}");
        let file = r.to_key_file();
        for line in file.lines().filter(|l| !l.starts_with('#')) {
            let key = line.split_whitespace().last().unwrap();
            assert!(!d.contains(key), "Debug shows a key: {d}");
            assert!(!d.contains(&key[..16]), "Debug shows part of a key: {d}");
        }
        assert!(d.contains("current_version: 2") && d.contains(&r.hash_key_id()), "{d}");
    }

    #[test]
    fn malformed_key_files_name_the_line_and_never_the_key() {
        let h = "ab".repeat(32);
        let d = "cd".repeat(32);
        let cases: &[(String, usize, &str)] = &[
            (format!("# c\n\n{HASH_KEY_WORD} {h}\n{DATA_KEY_WORD} 1 {d}\n"), 4, "v<N>"),
            (format!("{HASH_KEY_WORD} {h}\n{DATA_KEY_WORD} v0 {d}\n"), 2, "without leading zeros"),
            (format!("{HASH_KEY_WORD} {h}\n{DATA_KEY_WORD} v1 {}\n", &d[..63]), 2, "63 characters"),
            (format!("{HASH_KEY_WORD} {h}\n{DATA_KEY_WORD} v1 {}zz\n", &d[..62]), 2, "not a hex digit"),
            (format!("{HASH_KEY_WORD} {h}\n{DATA_KEY_WORD} v1 {d}\n{DATA_KEY_WORD} v1 {h}\n"), 3, "appears twice"),
            (format!("{HASH_KEY_WORD} {h}\n{HASH_KEY_WORD} {d}\n"), 2, "first is on line 1"),
            (format!("{HASH_KEY_WORD} {h}\naidpay-data-kye v1 {d}\n"), 2, "expected"),
            (format!("{HASH_KEY_WORD} {h}\n{d}\n"), 2, "expected"),
            (format!("{HASH_KEY_WORD} {h}\n{DATA_KEY_WORD} v1 {d} extra\n"), 2, "three words"),
        ];
        for (text, line, reason) in cases {
            match KeyRing::from_key_file(text, &origin()) {
                Err(e @ KeyError::Malformed { .. }) => {
                    let KeyError::Malformed { line: l, .. } = &e else { unreachable!() };
                    let m = e.to_string();
                    assert_eq!(l, line, "{m}");
                    assert!(m.contains(&format!("line {line}")) && m.contains(reason) && m.contains("test.key"), "{m}");
                    assert!(!m.contains(&h[..16]) && !m.contains(&d[..16]), "the message shows key material: {m}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        for (text, reason) in [
            (format!("{DATA_KEY_WORD} v1 {d}\n"), "no `aidpay-hash-key`"),
            (format!("{HASH_KEY_WORD} {h}\n"), "no `aidpay-data-key`"),
            (format!("{HASH_KEY_WORD} {h}\n{DATA_KEY_WORD} v1 {h}\n"), "equals a data key"),
            (String::new(), "no `aidpay-hash-key`"),
        ] {
            let e = KeyRing::from_key_file(&text, &origin()).unwrap_err();
            assert!(matches!(e, KeyError::Incomplete { .. }) && e.to_string().contains(reason), "{e}");
        }
        // CRLF, a BOM, indentation, upper-case hex and comments are fine.
        let ok = format!("\u{feff}# made by hand\r\n  {HASH_KEY_WORD}   {}\r\n\r\n{DATA_KEY_WORD} v3 {d}\r\n", h.to_uppercase());
        let r = KeyRing::from_key_file(&ok, &origin()).unwrap();
        assert_eq!(r.versions(), vec![3]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_text_round_trips(s in any::<String>(), cjk in "[\\u{4e00}-\\u{9fff}\\u{3400}-\\u{4dbf}\\u{20000}-\\u{2a6df}·]{0,40}", p in "[a-z_.]{0,20}") {
            let r = ring();
            for text in [s.as_str(), cjk.as_str()] {
                let v = r.encrypt(text, &p).unwrap();
                prop_assert!(is_encrypted(&v));
                prop_assert_eq!(r.decrypt(&v, &p).unwrap(), text);
                prop_assert_eq!(r.reencrypt(&v, &p).map(|w| r.decrypt(&w, &p).unwrap()).unwrap(), text);
            }
        }

        #[test]
        fn a_changed_purpose_or_bit_is_rejected(s in "\\PC{0,30}", p in "[a-z]{1,12}", q in "[a-z]{1,12}", flip in any::<usize>(), bit in 0u8..8) {
            let r = ring();
            let v = r.encrypt(&s, &p).unwrap();
            if p != q {
                prop_assert_eq!(r.decrypt(&v, &q), Err(CryptoError::Rejected));
            }
            // Flip one bit of the decoded bytes (nonce, ciphertext or tag).
            let mut raw = URL_SAFE_NO_PAD.decode(&v[3..]).unwrap();
            let i = flip % raw.len();
            raw[i] ^= 1 << bit;
            let t = format!("v1:{}", URL_SAFE_NO_PAD.encode(&raw));
            prop_assert_eq!(r.decrypt(&t, &p), Err(CryptoError::Rejected));
        }

        #[test]
        fn equal_values_hash_equal_across_rotation(s in "\\PC{0,30}") {
            let mut r = ring();
            let h = r.lookup_hash(purpose::ID_NUMBER, &s);
            let a = r.encrypt(&s, purpose::ID_NUMBER).unwrap();
            r.add_version().unwrap();
            let b = r.encrypt(&s, purpose::ID_NUMBER).unwrap();
            prop_assert_ne!(&a, &b);
            prop_assert_eq!(r.lookup_hash(purpose::ID_NUMBER, &s), h);
            prop_assert_eq!(r.decrypt(&a, purpose::ID_NUMBER).unwrap(), r.decrypt(&b, purpose::ID_NUMBER).unwrap());
        }
    }

    /// What encryption costs a province's term: encrypt + look-up hash of 1,000,000 card numbers,
    /// then decrypt them. Not a timed test of the suite; run by hand:
    /// `cargo test --release --lib crypto::keyring::tests::throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn throughput_one_million_cards() {
        use std::time::Instant;
        const N: u64 = 1_000_000;
        let r = ring();
        let cards: Vec<String> = (0..N).map(|i| format!("622202{:013}", i * 7919)).collect();
        let t = Instant::now();
        let mut stored = Vec::with_capacity(cards.len());
        let mut hashes = 0usize;
        for c in &cards {
            stored.push(r.encrypt(c, purpose::CARD_NUMBER).unwrap());
            hashes += r.lookup_hash(purpose::CARD_NUMBER, c).len();
        }
        let enc = t.elapsed();
        let t = Instant::now();
        for c in &cards {
            std::hint::black_box(r.encrypt(c, purpose::CARD_NUMBER).unwrap());
        }
        let enc_only = t.elapsed();
        let t = Instant::now();
        for c in &cards {
            std::hint::black_box(r.lookup_hash(purpose::CARD_NUMBER, c));
        }
        let hash_only = t.elapsed();
        let t = Instant::now();
        for (s, c) in stored.iter().zip(&cards) {
            assert_eq!(&r.decrypt(s, purpose::CARD_NUMBER).unwrap(), c);
        }
        let dec = t.elapsed();
        let rate = |d: std::time::Duration| N as f64 / d.as_secs_f64();
        println!(
            "{N} card numbers: encrypt+hash {:.2} s ({:.0}/s); encrypt alone {:.2} s ({:.0}/s); hash alone {:.2} s ({:.0}/s); decrypt {:.2} s ({:.0}/s); {} hash bytes",
            enc.as_secs_f64(),
            rate(enc),
            enc_only.as_secs_f64(),
            rate(enc_only),
            hash_only.as_secs_f64(),
            rate(hash_only),
            dec.as_secs_f64(),
            rate(dec),
            hashes
        );
    }
}
