//! Delivering a bank file into a drop folder that the bank's front-end machine (前置机) watches.
//!
//! The front-end picks up any complete file it finds, at any moment. So the file must appear
//! under its final name *all at once*, and must survive a power cut once we say it is delivered:
//! the bytes go to a hidden temporary file in the **same directory** (a pickup ignores names
//! starting with `.` or ending in `.part`), created 0600 (payment files carry names and card
//! numbers) and `fsync`ed, then one `rename` gives the final name and the directory is `fsync`ed
//! — [`crate::files::write_atomic`], whose pieces [`stage`] and [`hand_over`] use too.
//!
//! [`deliver`] is idempotent: after a crash the caller simply writes again. If the final file is
//! already there with the same bytes, that is success; with different bytes it is a
//! [`TransportError::Conflict`], because two different files must never share a name. That is
//! right for folders aidpay owns (the outbox, the inbox) — and wrong for a bank's drop folder,
//! whose front-end *removes* a file the instant it takes it: "not there" then means "taken", and
//! writing it again would pay every payment twice. So a bank's drop folder is served by three
//! separate steps that the caller ([`crate::delivery`]) puts around its own records:
//! [`stage`] (the hidden, synced copy a pickup ignores), [`hand_over`] (the rename: the one
//! instant the bank can take it) and [`observe`] (after a crash: staged, waiting, or taken).

use super::TransportError;
use crate::files::{self, sha256_hex};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` as `dir/file_name`, atomically and durably (see the module doc), and returns
/// the final path. For folders aidpay owns; a bank's drop folder goes through [`stage`] and
/// [`hand_over`] instead.
///
/// `file_name` must be a plain name: not empty, no path separator, not starting with `.` and not
/// ending in `.part` (those are what a pickup ignores, so the bank would never take the file).
pub fn deliver(dir: &Path, file_name: &str, bytes: &[u8]) -> Result<PathBuf, TransportError> {
    check_file_name(file_name)?;
    let final_path = dir.join(file_name);

    if let Some(outcome) = compare_existing(&final_path, bytes)? {
        return outcome;
    }

    // What an attempt that crashed left (ignored by a pickup, harmless, but untidy): in a folder
    // aidpay owns it is the one writer of the name.
    remove_stale_staged(dir, file_name);
    files::write_atomic(&final_path, bytes, 0o600)?;
    tracing::debug!(file = %final_path.display(), bytes = bytes.len(), "file written atomically");
    Ok(final_path)
}

/// Writes `bytes` to a hidden staged file in `dir` (`.<name>.<pid>-<n>.part`, created 0600,
/// synced: [`files::create_temp`]) and returns its name. A pickup ignores it; nothing reaches
/// the bank until [`hand_over`]. Each call stages under a new name, so two processes never
/// share one.
pub fn stage(dir: &Path, file_name: &str, bytes: &[u8]) -> Result<String, TransportError> {
    check_file_name(file_name)?;
    let (path, mut file) = files::create_temp(dir, file_name, 0o600)?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        let _ = fs::remove_file(&path);
        return Err(TransportError::io(path, e));
    }
    Ok(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
}

/// What [`hand_over`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandedOver {
    /// The staged file was renamed to its final name: from now on the bank may take it.
    Now,
    /// The staged file is gone: someone else (a recovery in another process) renamed it.
    StagedGone,
}

/// The hand-over: renames the staged file to `file_name` (atomic: the front-end sees nothing or
/// the whole file) and syncs the folder. Never writes bytes, so it can reach the bank only once:
/// a second call finds the staged file gone. A final file already there is never replaced.
pub fn hand_over(dir: &Path, staged: &str, file_name: &str) -> Result<HandedOver, TransportError> {
    check_file_name(file_name)?;
    let final_path = dir.join(file_name);
    if final_path.exists() {
        return Err(TransportError::Conflict { path: final_path });
    }
    match fs::rename(dir.join(staged), &final_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HandedOver::StagedGone),
        Err(e) => return Err(TransportError::io(&final_path, e)),
    }
    files::sync_dir(dir)?;
    tracing::info!(file = %final_path.display(), "handed over to the bank's drop folder");
    Ok(HandedOver::Now)
}

/// What can be seen of a hand-over in the drop folder after the fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The staged file is there with the recorded bytes: the hand-over did not happen yet.
    Staged,
    /// The final file is there with the recorded bytes: handed over, not yet taken.
    Waiting,
    /// Neither is there: handed over, and the bank's front-end took it.
    Taken,
    /// Something is there that does not fit the record (the reason says what): undecidable.
    Unclear(String),
}

/// Looks at `dir` for the staged file and the final file of one hand-over whose bytes had
/// SHA-256 `sha256`. An error means the folder could not be read: nothing is decided.
pub fn observe(dir: &Path, staged: &str, file_name: &str, sha256: &str) -> Result<Observed, TransportError> {
    let read = |name: &str| -> Result<Option<Vec<u8>>, TransportError> {
        let path = dir.join(name);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TransportError::io(path, e)),
        }
    };
    // The folder itself must be there: a missing or unmounted folder says nothing about the bank.
    fs::read_dir(dir).map_err(|e| TransportError::io(dir, e))?;
    let staged_bytes = read(staged)?;
    let final_bytes = read(file_name)?;
    Ok(match (staged_bytes, final_bytes) {
        (Some(s), None) if sha256_hex(&s) == sha256 => Observed::Staged,
        (Some(_), None) => Observed::Unclear(format!("暂存文件 {staged} 的内容与登记的哈希不符")),
        (None, Some(f)) if sha256_hex(&f) == sha256 => Observed::Waiting,
        (None, Some(_)) => Observed::Unclear(format!("投递目录中的 {file_name} 与登记的文件内容不同")),
        (Some(_), Some(_)) => Observed::Unclear(format!("暂存文件 {staged} 与 {file_name} 同时存在")),
        (None, None) => Observed::Taken,
    })
}

/// Removes staged files of `file_name` left by attempts that never handed over (a process that
/// lost the claim, or crashed before it). Only call once the batch's hand-over is decided.
pub fn remove_stale_staged(dir: &Path, file_name: &str) {
    let prefix = format!(".{file_name}.");
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".part") {
            let _ = fs::remove_file(e.path());
        }
    }
}

fn check_file_name(name: &str) -> Result<(), TransportError> {
    let bad = name.is_empty()
        || name.starts_with('.')
        || name.ends_with(".part")
        || name.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(TransportError::Invalid(format!(
            "drop-folder file name {name:?} must be a plain name, not starting with '.' nor ending in '.part'"
        )));
    }
    Ok(())
}

/// `None` when no file of that name exists yet; otherwise the final answer for `deliver`.
fn compare_existing(path: &Path, bytes: &[u8]) -> Result<Option<Result<PathBuf, TransportError>>, TransportError> {
    match fs::read(path) {
        Ok(existing) if existing == bytes => {
            tracing::info!(file = %path.display(), "already written with identical bytes: nothing to do");
            Ok(Some(Ok(path.to_path_buf())))
        }
        Ok(_) => Ok(Some(Err(TransportError::Conflict { path: path.to_path_buf() }))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TransportError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliver_writes_final_file_with_mode_0600_and_no_temp_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = deliver(dir.path(), "BATCH-001.xml", b"<Document/>").unwrap();
        assert_eq!(path, dir.path().join("BATCH-001.xml"));
        assert_eq!(fs::read(&path).unwrap(), b"<Document/>");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["BATCH-001.xml".to_string()], "no .part file may be left behind");
    }

    #[test]
    fn deliver_again_with_same_bytes_is_ok_and_different_bytes_is_conflict() {
        let dir = tempfile::tempdir().unwrap();
        deliver(dir.path(), "b.txt", b"one").unwrap();
        assert_eq!(deliver(dir.path(), "b.txt", b"one").unwrap(), dir.path().join("b.txt"));
        let err = deliver(dir.path(), "b.txt", b"two").unwrap_err();
        assert!(matches!(err, TransportError::Conflict { .. }), "{err:?}");
        assert_eq!(fs::read(dir.path().join("b.txt")).unwrap(), b"one", "a conflict must not overwrite");
    }

    #[test]
    fn deliver_overwrites_a_stale_temp_file_from_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".c.txt.part"), b"half a fi").unwrap();
        deliver(dir.path(), "c.txt", b"whole file").unwrap();
        assert_eq!(fs::read(dir.path().join("c.txt")).unwrap(), b"whole file");
        assert!(!dir.path().join(".c.txt.part").exists());
    }

    #[test]
    fn deliver_refuses_names_a_pickup_would_ignore_or_that_escape_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["", ".hidden", "x.part", "../x", "a/b", "a\\b", "a\nb"] {
            let err = deliver(dir.path(), name, b"x").unwrap_err();
            assert!(matches!(err, TransportError::Invalid(_)), "{name:?}: {err:?}");
        }
    }

    #[test]
    fn deliver_into_a_missing_folder_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = deliver(&missing, "a.txt", b"x").unwrap_err();
        assert!(matches!(err, TransportError::Io { .. }));
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
