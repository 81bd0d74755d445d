//! Where the key comes from, and key files made and rotated: loading in order of precedence, the
//! permission check, `init` (a new file of mode 0600, written atomically, never over an existing
//! one) and `rotate` (a data key version appended, the file replaced atomically).

use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{KeyError, KeyRing};
use crate::files::{Atomic, FsError};

/// The environment variable holding the key file's content (not a path to it).
pub const ENV_VAR: &str = "AIDPAY_DATA_KEY";
/// The systemd credential names read from `$CREDENTIALS_DIRECTORY`: `data_key` from
/// `LoadCredential=data_key:<file>`, `aidpay_data_key` from `LoadCredential=aidpay:<folder>`
/// (the unit aidpay ships) with the file `data_key` in the folder.
const CREDENTIAL_NAMES: [&str; 2] = ["data_key", "aidpay_data_key"];
/// A key file is a few hundred bytes; anything this large is something else.
const MAX_KEY_FILE: u64 = 1 << 20;

/// Where a key ring was loaded from, for the start-up log and for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A systemd credential: the file under `$CREDENTIALS_DIRECTORY`.
    Credential(PathBuf),
    /// The environment variable `AIDPAY_DATA_KEY`.
    Environment,
    /// A key file (`[security] data_key_file`, or the file `init`/`rotate` work on).
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Credential(p) => write!(f, "systemd credential {}", p.display()),
            KeySource::Environment => write!(f, "environment variable {ENV_VAR}"),
            KeySource::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

/// Loads the key ring with the process environment; see [`load_with_env`].
pub fn load(data_key_file: Option<&Path>) -> Result<(KeyRing, KeySource), KeyError> {
    load_with_env(data_key_file, |k| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned()))
}

/// Loads the key ring from the first source that has one:
/// 1. the systemd credential `data_key`, then `aidpay_data_key`, under `$CREDENTIALS_DIRECTORY`;
/// 2. `AIDPAY_DATA_KEY`, the key file's content;
/// 3. `data_key_file` (from `[security] data_key_file`), which must be mode 0600 or stricter.
///
/// A source that is there but broken is an error, not a reason to try the next one: a damaged
/// credential must not quietly give way to a stale file. `env` stands for the environment
/// (tests pass their own). Empty variables count as unset.
pub fn load_with_env(data_key_file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<(KeyRing, KeySource), KeyError> {
    let mut looked = Vec::new();
    match env("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
        Some(dir) => {
            for name in CREDENTIAL_NAMES {
                let path = Path::new(&dir).join(name);
                let origin = KeySource::Credential(path.clone());
                // No permission check here: systemd makes the credential readable by the
                // service alone, and where it grants that by an ACL, `stat` shows the ACL mask
                // in the group bits (0440) although no group can read the file.
                if let Some(text) = read_secret(&path, &origin, false)? {
                    return Ok((KeyRing::from_key_file(&text, &origin)?, origin));
                }
            }
            looked.push(format!("the systemd credential data_key (or aidpay_data_key) in {dir}"));
        }
        None => looked.push("a systemd credential data_key (no $CREDENTIALS_DIRECTORY)".to_string()),
    }
    if let Some(text) = env(ENV_VAR).map(Zeroizing::new).filter(|t| !t.trim().is_empty()) {
        return match KeyRing::from_key_file(&text, &KeySource::Environment) {
            Ok(ring) => Ok((ring, KeySource::Environment)),
            // The likeliest mistake: a path where the content belongs.
            Err(KeyError::Malformed { line: 1, .. }) if looks_like_a_path(&text) => Err(KeyError::Malformed {
                origin: KeySource::Environment,
                line: 1,
                reason: format!(
                    "{ENV_VAR} holds the key file's content, not its path; for a file set [security] data_key_file"
                ),
            }),
            Err(e) => Err(e),
        };
    }
    looked.push(format!("the environment variable {ENV_VAR}"));
    match data_key_file {
        Some(path) => {
            let origin = KeySource::File(path.to_path_buf());
            match read_secret(path, &origin, true)? {
                Some(text) => Ok((KeyRing::from_key_file(&text, &origin)?, origin)),
                // Configured but not there: say so, do not report "no key".
                None => Err(KeyError::Unreadable { origin, reason: "no such file".into() }),
            }
        }
        None => {
            looked.push("[security] data_key_file (not set)".to_string());
            Err(KeyError::Missing { looked: looked.join(", ") })
        }
    }
}

fn looks_like_a_path(text: &str) -> bool {
    let t = text.trim();
    !t.contains('\n') && !t.contains(char::is_whitespace) && (t.starts_with('/') || t.starts_with("./") || t.starts_with("~/"))
}

/// Reads a key source's text; `Ok(None)` when there is no such file. With `check_mode`, a file
/// whose mode grants its group or others anything is refused ([`KeyError::TooOpen`]); the check
/// is made on the opened file, so the file read is the file checked.
fn read_secret(path: &Path, origin: &KeySource, check_mode: bool) -> Result<Option<Zeroizing<String>>, KeyError> {
    match File::open(path) {
        Ok(mut f) => read_open(&mut f, path, origin, check_mode).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KeyError::Unreadable { origin: origin.clone(), reason: e.to_string() }),
    }
}

fn read_open(f: &mut File, path: &Path, origin: &KeySource, check_mode: bool) -> Result<Zeroizing<String>, KeyError> {
    let unreadable = |reason: String| KeyError::Unreadable { origin: origin.clone(), reason };
    let meta = f.metadata().map_err(|e| unreadable(e.to_string()))?;
    if !meta.is_file() {
        return Err(unreadable("not a regular file".into()));
    }
    if check_mode && meta.mode() & 0o077 != 0 {
        return Err(KeyError::TooOpen { path: path.display().to_string(), mode: meta.mode() & 0o7777 });
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(unreadable(format!("{} bytes: too large for a key file", meta.len())));
    }
    // Sized up front so the buffer holding the keys is not reallocated (and copies left behind).
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
    f.take(MAX_KEY_FILE).read_to_end(&mut bytes).map_err(|e| unreadable(e.to_string()))?;
    if std::str::from_utf8(&bytes).is_err() {
        return Err(unreadable("not UTF-8 text".into()));
    }
    Ok(Zeroizing::new(String::from_utf8(std::mem::take(&mut *bytes)).expect("checked above")))
}

/// Opens the key file and takes an exclusive lock on it, so two rotations at once cannot both
/// add "version N+1" with different keys (the later rename would lose the first one's key and
/// every value already encrypted under it). If the file was replaced while we waited for the
/// lock, the lock is on the old file: start again on the new one.
fn open_locked(path: &Path, origin: &KeySource) -> Result<File, KeyError> {
    let unreadable = |reason: String| KeyError::Unreadable { origin: origin.clone(), reason };
    loop {
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(unreadable("no such file".into())),
            Err(e) => return Err(unreadable(e.to_string())),
        };
        f.lock().map_err(|e| unreadable(format!("cannot lock it: {e}")))?;
        let locked = f.metadata().map_err(|e| unreadable(e.to_string()))?;
        match fs::metadata(path) {
            Ok(now) if (now.dev(), now.ino()) == (locked.dev(), locked.ino()) => return Ok(f),
            _ => continue,
        }
    }
}

/// What `aidpay keys init` made, and what to tell the administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    pub path: PathBuf,
    /// The data key version the file holds (1).
    pub data_version: u32,
    /// One-way ids of the keys (see [`KeyRing::hash_key_id`]), to compare files without showing them.
    pub data_key_id: String,
    pub hash_key_id: String,
}

impl InitReport {
    /// The administrator's next steps, as `keys init` prints them.
    pub fn advice(&self) -> String {
        let p = self.path.display();
        format!(
            "New data key file {p} (mode 0600): data key v{v} (id {d}), hash key (id {h}).\n\
             Keep a copy offline (a safe, not beside the store's backups): without this file the encrypted card and ID numbers cannot be read.\n\
             Give it to aidpay in one of these ways:\n\
             \x20 - a systemd credential (production): install it as /etc/aidpay/credentials/data_key (root, mode 0600);\n\
             \x20   the unit's LoadCredential=aidpay:/etc/aidpay/credentials passes it, as does LoadCredential=data_key:/etc/aidpay/credentials/data_key\n\
             \x20 - [security] data_key_file = \"{p}\" in the configuration (the file stays mode 0600, owned by the user aidpay runs as)\n\
             \x20 - AIDPAY_DATA_KEY set to the file's content (tests, the demo, containers)\n\
             新数据密钥文件已生成（权限 0600）。请离线备份，不要与数据库备份放在一起；生产环境请作为 systemd 凭据 data_key 提供。",
            v = self.data_version,
            d = self.data_key_id,
            h = self.hash_key_id,
        )
    }
}

/// `aidpay keys init`: a new key file at `path` with a fresh hash key and data key v1 from the
/// operating system's random number generator, mode 0600, written to a temporary file in the
/// same folder, flushed to disk and then linked into place, so the file is whole or absent.
/// An existing file is never replaced ([`KeyError::Exists`]). A missing folder is made (0700).
pub fn init_key_file(path: &Path) -> Result<InitReport, KeyError> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(KeyError::Exists { path: path.display().to_string() });
    }
    let ring = KeyRing::generate()?;
    write_atomically(path, ring.to_key_file().as_bytes(), Mode::New)?;
    Ok(InitReport {
        path: path.to_path_buf(),
        data_version: ring.current_version(),
        data_key_id: ring.data_key_id(ring.current_version()).expect("the current version"),
        hash_key_id: ring.hash_key_id(),
    })
}

/// What `aidpay keys rotate` did to the key file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateReport {
    pub path: PathBuf,
    /// The version that now encrypts.
    pub new_version: u32,
    pub data_key_id: String,
    /// Every version the file holds, lowest first.
    pub versions: Vec<u32>,
}

/// The key-file half of a rotation: appends a new random data key version to the file at `path`
/// (which must already be mode 0600) and replaces the file atomically, keeping its comments, its
/// other lines and its owner, under an exclusive lock of the file (concurrent rotations take
/// turns). The hash key is untouched. Returns the new version; re-encrypting
/// the store's values is the caller's (see [`KeyRing::needs_reencrypt`]).
pub fn rotate_key_file(path: &Path) -> Result<RotateReport, KeyError> {
    let origin = KeySource::File(path.to_path_buf());
    // Held until the new file is in place (dropped at the end).
    let mut locked = open_locked(path, &origin)?;
    let text = read_open(&mut locked, path, &origin, true)?;
    let mut ring = KeyRing::from_key_file(&text, &origin)?;
    let version = ring.add_version()?;
    let mut new_text = Zeroizing::new(String::with_capacity(text.len() + 200));
    new_text.push_str(&text);
    if !new_text.is_empty() && !new_text.ends_with('\n') {
        new_text.push('\n');
    }
    ring.push_data_key_line(&mut new_text, version);
    // What goes to disk must read back as the ring in memory.
    let check = KeyRing::from_key_file(&new_text, &origin)?;
    if check.versions() != ring.versions() || check.hash_key_id() != ring.hash_key_id() {
        return Err(KeyError::Write { path: path.display().to_string(), reason: "the rotated file does not read back as written".into() });
    }
    write_atomically(path, new_text.as_bytes(), Mode::Replace)?;
    Ok(RotateReport {
        path: path.to_path_buf(),
        new_version: version,
        data_key_id: ring.data_key_id(version).expect("the version just added"),
        versions: ring.versions(),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Never over an existing file.
    New,
    /// Over the existing file (keeping its owner).
    Replace,
}

/// [`crate::files::write_atomic_with`]: a temporary file in the same folder (mode 0600) → write →
/// fsync → into place (a hard link for a new file, which fails if the name exists; a rename for a
/// replacement, keeping the file's owner) → fsync the folder. A missing folder is made (0700).
/// On any failure the temporary file is removed and the target is as it was.
fn write_atomically(path: &Path, contents: &[u8], mode: Mode) -> Result<(), KeyError> {
    let shown = path.display().to_string();
    let failed = |reason: String| KeyError::Write { path: shown.clone(), reason };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(|e| failed(format!("cannot make the folder {}: {e}", dir.display())))?;
    }
    let how = match mode {
        Mode::Replace => {
            // The file being replaced must be there (its owner is kept).
            fs::metadata(path).map_err(|e| failed(e.to_string()))?;
            Atomic::replace(0o600).keeping_owner()
        }
        Mode::New => Atomic::new_only(0o600),
    };
    crate::files::write_atomic_with(path, how, |f, temp| f.write_all(contents).map_err(|e| FsError::new(temp, e))).map_err(|e| match e.source.kind() {
        std::io::ErrorKind::AlreadyExists if mode == Mode::New => KeyError::Exists { path: shown.clone() },
        _ => failed(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::purpose;
    use super::*;
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    fn key_text() -> String {
        KeyRing::generate().unwrap().to_key_file().to_string()
    }

    fn write_mode(p: &Path, text: &str, mode: u32) {
        fs::write(p, text).unwrap();
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn init_writes_0600_and_loads_back_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials/data_key");
        let report = init_key_file(&path).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(path.parent().unwrap()), 0o700);
        assert_eq!(report.data_version, 1);
        let advice = report.advice();
        assert!(advice.contains("LoadCredential=data_key:/etc/aidpay/credentials/data_key") && advice.contains(ENV_VAR), "{advice}");
        // No temporary file left behind.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);

        let (ring, source) = load_with_env(Some(&path), env(&[])).unwrap();
        assert_eq!(source, KeySource::File(path.clone()));
        assert_eq!(ring.hash_key_id(), report.hash_key_id);
        assert_eq!(ring.data_key_id(1).unwrap(), report.data_key_id);
        let text = fs::read_to_string(&path).unwrap();
        assert!(!advice.contains(text.lines().last().unwrap().split_whitespace().last().unwrap()));

        let e = init_key_file(&path).unwrap_err();
        assert!(matches!(e, KeyError::Exists { .. }), "{e}");
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "init changed an existing key file");
        // Two inits make two different keys.
        let other = init_key_file(&dir.path().join("other")).unwrap();
        assert_ne!(other.hash_key_id, report.hash_key_id);
        assert_ne!(other.data_key_id, report.data_key_id);
    }

    #[test]
    fn a_key_file_others_may_read_is_refused_with_chmod_600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data_key");
        for mode in [0o644, 0o640, 0o604, 0o660, 0o602] {
            write_mode(&path, &key_text(), mode);
            let e = load_with_env(Some(&path), env(&[])).unwrap_err();
            let m = e.to_string();
            assert!(matches!(e, KeyError::TooOpen { .. }), "{mode:o}: {m}");
            assert!(m.contains(&format!("chmod 600 {}", path.display())) && m.contains(&format!("{mode:04o}")), "{m}");
            assert!(rotate_key_file(&path).is_err(), "rotate used a key file open to others");
        }
        for mode in [0o600, 0o400] {
            write_mode(&path, &key_text(), mode);
            load_with_env(Some(&path), env(&[])).unwrap();
        }
    }

    #[test]
    fn precedence_credential_then_environment_then_file() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        fs::create_dir(&creds).unwrap();
        let file = dir.path().join("data_key_file");
        let (t_cred, t_env, t_file) = (key_text(), key_text(), key_text());
        write_mode(&file, &t_file, 0o600);
        let id = |t: &str| KeyRing::from_key_file(t, &KeySource::Environment).unwrap().hash_key_id();
        let cd = creds.to_str().unwrap();

        // The file alone.
        let (r, s) = load_with_env(Some(&file), env(&[("CREDENTIALS_DIRECTORY", cd)])).unwrap();
        assert_eq!((r.hash_key_id(), s), (id(&t_file), KeySource::File(file.clone())));
        // The environment beats the file.
        let (r, s) = load_with_env(Some(&file), env(&[("CREDENTIALS_DIRECTORY", cd), (ENV_VAR, &t_env)])).unwrap();
        assert_eq!((r.hash_key_id(), s), (id(&t_env), KeySource::Environment));
        // The credential, under the folder unit's name, beats both; 0440 (an ACL mask) is fine there.
        write_mode(&creds.join("aidpay_data_key"), &t_cred, 0o440);
        let (r, s) = load_with_env(Some(&file), env(&[("CREDENTIALS_DIRECTORY", cd), (ENV_VAR, &t_env)])).unwrap();
        assert_eq!((r.hash_key_id(), s), (id(&t_cred), KeySource::Credential(creds.join("aidpay_data_key"))));
        // `data_key` beats `aidpay_data_key`.
        let t_named = key_text();
        write_mode(&creds.join("data_key"), &t_named, 0o400);
        let (r, s) = load_with_env(None, env(&[("CREDENTIALS_DIRECTORY", cd)])).unwrap();
        assert_eq!((r.hash_key_id(), s.to_string()), (id(&t_named), format!("systemd credential {}", creds.join("data_key").display())));
        // Empty variables count as unset.
        let (_, s) = load_with_env(Some(&file), env(&[("CREDENTIALS_DIRECTORY", ""), (ENV_VAR, " \n")])).unwrap();
        assert_eq!(s, KeySource::File(file.clone()));
    }

    #[test]
    fn a_broken_source_is_an_error_not_a_fall_through() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("good");
        write_mode(&file, &key_text(), 0o600);
        // A damaged credential does not give way to the file.
        let creds = dir.path().join("creds");
        fs::create_dir(&creds).unwrap();
        write_mode(&creds.join("data_key"), "aidpay-hash-key 00\n", 0o400);
        let e = load_with_env(Some(&file), env(&[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())])).unwrap_err();
        assert!(e.to_string().starts_with(&format!("data key from systemd credential {}, line 1:", creds.join("data_key").display())), "{e}");
        // A malformed environment names the variable and the line.
        let bad = format!("{}\nnonsense\n", key_text());
        let line = bad.lines().count();
        let e = load_with_env(Some(&file), env(&[(ENV_VAR, &bad)])).unwrap_err();
        assert!(e.to_string().starts_with(&format!("data key from environment variable {ENV_VAR}, line {line}:")), "{e}");
        // A path where the content belongs says so.
        let e = load_with_env(None, env(&[(ENV_VAR, "/etc/aidpay/credentials/data_key")])).unwrap_err();
        assert!(e.to_string().contains("not its path") && e.to_string().contains("data_key_file"), "{e}");
        // A configured file that is not there, or is a folder.
        let e = load_with_env(Some(&dir.path().join("absent")), env(&[])).unwrap_err();
        assert!(matches!(e, KeyError::Unreadable { .. }) && e.to_string().contains("no such file"), "{e}");
        let e = load_with_env(Some(dir.path()), env(&[])).unwrap_err();
        assert!(matches!(e, KeyError::Unreadable { .. }), "{e}");
        // Nothing anywhere.
        let e = load_with_env(None, env(&[])).unwrap_err();
        let m = e.to_string();
        assert!(matches!(e, KeyError::Missing { .. }), "{m}");
        assert!(m.contains("data_key") && m.contains(ENV_VAR) && m.contains("data_key_file") && m.contains("aidpay keys init"), "{m}");
    }

    #[test]
    fn rotate_appends_a_version_keeps_the_file_0600_and_old_values_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data_key");
        init_key_file(&path).unwrap();
        // An administrator's note survives the rotation.
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str("# made for the district test server\n");
        fs::write(&path, &text).unwrap();
        let (r1, _) = load_with_env(Some(&path), env(&[])).unwrap();
        let card = "6222021234567890123";
        let old = r1.encrypt(card, purpose::CARD_NUMBER).unwrap();
        let hash = r1.lookup_hash(purpose::CARD_NUMBER, card);

        let report = rotate_key_file(&path).unwrap();
        assert_eq!((report.new_version, report.versions.clone()), (2, vec![1, 2]));
        assert_eq!(mode_of(&path), 0o600);
        let after = fs::read_to_string(&path).unwrap();
        assert!(after.starts_with(&text) && after.contains("# made for the district test server"));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "a temporary file was left");

        let (r2, _) = load_with_env(Some(&path), env(&[])).unwrap();
        assert_eq!(r2.current_version(), 2);
        assert_eq!(r2.data_key_id(2).unwrap(), report.data_key_id);
        assert_eq!(r2.decrypt(&old, purpose::CARD_NUMBER).unwrap(), card);
        assert!(r2.needs_reencrypt(&old));
        let new = r2.reencrypt(&old, purpose::CARD_NUMBER).unwrap();
        assert!(new.starts_with("v2:"));
        assert_eq!(r2.lookup_hash(purpose::CARD_NUMBER, card), hash);
        // The old ring does not know v2: the daemon must load the rotated file before re-encryption.
        assert_eq!(r1.decrypt(&new, purpose::CARD_NUMBER), Err(super::super::CryptoError::UnknownVersion(2)));

        assert_eq!(rotate_key_file(&path).unwrap().versions, vec![1, 2, 3]);
    }

    #[test]
    fn concurrent_rotations_take_turns_and_lose_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data_key");
        init_key_file(&path).unwrap();
        let reports: Vec<RotateReport> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4).map(|_| s.spawn(|| rotate_key_file(&path).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let (ring, _) = load_with_env(Some(&path), env(&[])).unwrap();
        assert_eq!(ring.versions(), vec![1, 2, 3, 4, 5]);
        let mut got: Vec<u32> = reports.iter().map(|r| r.new_version).collect();
        got.sort();
        assert_eq!(got, vec![2, 3, 4, 5]);
        for r in &reports {
            assert_eq!(ring.data_key_id(r.new_version).unwrap(), r.data_key_id, "the key of v{} was lost", r.new_version);
        }
    }
}
