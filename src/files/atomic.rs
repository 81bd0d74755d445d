//! Writing a file so that it is whole or absent, also across a crash or a power cut.
//!
//! [`write_atomic`] / [`write_atomic_with`]:
//! 1. a new hidden temporary file in the **same folder** ([`create_temp`]: `.<name>.<pid>-<n>.part`,
//!    created with its final mode, so the bytes are never readable by others even briefly; a
//!    pickup or an inbox listing ignores names starting with `.` or ending in `.part`; the same
//!    folder because `rename` is atomic only within one file system);
//! 2. the bytes written, the file `fsync`ed, so its *contents* are on disk before its name is;
//! 3. into place: a `rename` over the final name ([`Existing::Replace`]: a reader sees the old
//!    file or the whole new one), or a hard link that fails when the name exists
//!    ([`Existing::Keep`]: never over an existing file);
//! 4. the folder `fsync`ed ([`sync_dir`]), so the new name itself is durable.
//!
//! On any failure the temporary file is removed and the final name is as it was.

use super::FsError;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What [`write_atomic_with`] does with a file already under the final name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replaced in one rename.
    Replace,
    /// Never replaced: the write fails with [`std::io::ErrorKind::AlreadyExists`].
    Keep,
}

/// How [`write_atomic_with`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Atomic {
    /// The file's permission bits, exactly (whatever the umask).
    pub mode: u32,
    pub existing: Existing,
    /// The new file gets the owner and group of the one it replaces (a key file given to the
    /// service's group stays so).
    pub keep_owner: bool,
}

impl Atomic {
    /// Over an existing file of the name.
    pub fn replace(mode: u32) -> Atomic {
        Atomic { mode, existing: Existing::Replace, keep_owner: false }
    }

    /// Never over an existing file of the name.
    pub fn new_only(mode: u32) -> Atomic {
        Atomic { mode, existing: Existing::Keep, keep_owner: false }
    }

    /// Keeping the replaced file's owner and group.
    pub fn keeping_owner(self) -> Atomic {
        Atomic { keep_owner: true, ..self }
    }
}

/// Writes `bytes` as `path` atomically and durably (see the module doc), with permission bits
/// `mode`, over an existing file of that name.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FsError> {
    write_atomic_with(path, Atomic::replace(mode), |file, temp| file.write_all(bytes).map_err(|e| FsError::new(temp, e)))
}

/// As [`write_atomic`], with `fill` writing the temporary file: into the open file it is given,
/// or anew at the path it is given (a writer that only saves to a path); either way what is at
/// that path when `fill` returns is synced and put in place.
pub fn write_atomic_with<E: From<FsError>>(path: &Path, how: Atomic, fill: impl FnOnce(&mut File, &Path) -> Result<(), E>) -> Result<(), E> {
    let name = path.file_name().ok_or_else(|| FsError::new(path, std::io::Error::other("not a file name")))?;
    let dir = folder_of(path);
    let owner = match how.keep_owner {
        true => match fs::metadata(path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(FsError::new(path, e).into()),
        },
        false => None,
    };
    let (temp, mut file) = create_temp(&dir, &name.to_string_lossy(), how.mode)?;
    let result = fill(&mut file, &temp).and_then(|()| {
        drop(file);
        finish_temp(&temp, how, owner.as_ref())?;
        place(&temp, path, how.existing)?;
        Ok(sync_dir(&dir)?)
    });
    if result.is_err() {
        // Best effort: the temporary file is hidden and harmless, but untidy.
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Creates a new hidden temporary file for `name` in `dir` (`.<name>.<pid>-<n>.part`, never one
/// that exists, so two writers never share one) with permission bits `mode` exactly, and
/// returns its path and the open file.
pub fn create_temp(dir: &Path, name: &str, mode: u32) -> Result<(PathBuf, File), FsError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.{}-{n}.part", std::process::id()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        match options.open(&temp) {
            Ok(file) => {
                // The umask may have taken bits away.
                if let Err(e) = super::set_mode(&temp, mode) {
                    let _ = fs::remove_file(&temp);
                    return Err(FsError::new(&temp, e));
                }
                return Ok((temp, file));
            }
            // Left by a crashed process that had our pid: not ours, try the next number.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(FsError::new(&temp, e)),
        }
    }
}

/// Makes a rename inside `dir` durable. On non-unix systems directories cannot be opened for
/// syncing; there it is a no-op.
pub fn sync_dir(dir: &Path) -> Result<(), FsError> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| FsError::new(dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The folder a path names a file in (`.` for a bare name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The written temporary file: its mode and owner as asked (a writer that saved anew at the
/// path may have made it otherwise), and its contents on disk.
fn finish_temp(temp: &Path, how: Atomic, owner: Option<&fs::Metadata>) -> Result<(), FsError> {
    let err = |e| FsError::new(temp, e);
    super::set_mode(temp, how.mode).map_err(err)?;
    #[cfg(unix)]
    if let Some(meta) = owner {
        use std::os::unix::fs::MetadataExt;
        let mine = fs::metadata(temp).map_err(err)?;
        if (mine.uid(), mine.gid()) != (meta.uid(), meta.gid()) {
            std::os::unix::fs::chown(temp, Some(meta.uid()), Some(meta.gid())).map_err(err)?;
        }
    }
    #[cfg(not(unix))]
    let _ = owner;
    File::open(temp).and_then(|f| f.sync_all()).map_err(err)
}

/// Puts the synced temporary file under its final name.
fn place(temp: &Path, path: &Path, existing: Existing) -> Result<(), FsError> {
    let exists = || FsError::new(path, std::io::Error::from(std::io::ErrorKind::AlreadyExists));
    match existing {
        Existing::Replace => fs::rename(temp, path).map_err(|e| FsError::new(path, e)),
        Existing::Keep => match fs::hard_link(temp, path) {
            Ok(()) => {
                let _ = fs::remove_file(temp);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists()),
            // A file system without hard links: rename, having looked once more.
            Err(_) if fs::symlink_metadata(path).is_err() => fs::rename(temp, path).map_err(|e| FsError::new(path, e)),
            Err(_) => Err(exists()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[cfg(unix)]
    fn mode_of(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_atomic_write_leaves_the_file_with_its_mode_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.xml");
        write_atomic(&p, b"<one/>", 0o600).unwrap();
        write_atomic(&p, b"<two/>", 0o640).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"<two/>", "replaced");
        #[cfg(unix)]
        assert_eq!(mode_of(&p), 0o640);
        assert_eq!(names(dir.path()), vec!["a.xml"], "no temporary file left behind");
    }

    #[test]
    fn a_failed_fill_leaves_no_temp_and_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        fs::write(&p, b"old").unwrap();
        let r = write_atomic_with(&p, Atomic::replace(0o600), |f, t| {
            f.write_all(b"half").unwrap();
            Err(FsError::new(t, std::io::Error::other("disk full")))
        });
        assert!(r.unwrap_err().to_string().contains("disk full"));
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(names(dir.path()), vec!["r.csv"]);
    }

    #[test]
    fn a_writer_that_saves_at_the_path_is_put_in_place_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("book.xlsx");
        write_atomic_with(&p, Atomic::replace(0o600), |_, t| {
            fs::remove_file(t).unwrap();
            fs::write(t, b"saved anew").map_err(|e| FsError::new(t, e))
        })
        .unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"saved anew");
        #[cfg(unix)]
        assert_eq!(mode_of(&p), 0o600);
        assert_eq!(names(dir.path()), vec!["book.xlsx"]);
    }

    #[test]
    fn new_only_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        write_atomic_with(&p, Atomic::new_only(0o600), |f, t| f.write_all(b"first").map_err(|e| FsError::new(t, e))).unwrap();
        let e = write_atomic_with(&p, Atomic::new_only(0o600), |f, t| f.write_all(b"second").map_err(|e| FsError::new(t, e))).unwrap_err();
        assert_eq!(e.source.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&p).unwrap(), b"first");
        assert_eq!(names(dir.path()), vec!["key"]);
    }

    #[test]
    fn temp_files_never_share_a_name_nor_take_a_leftover() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = create_temp(dir.path(), "b.txt", 0o600).unwrap();
        let n: u64 = a.to_string_lossy().rsplit('-').next().unwrap().trim_end_matches(".part").parse().unwrap();
        // What a crashed process with our pid left under the next number.
        let leftover = dir.path().join(format!(".b.txt.{}-{}.part", std::process::id(), n + 1));
        fs::write(&leftover, b"theirs").unwrap();
        let (b, _) = create_temp(dir.path(), "b.txt", 0o600).unwrap();
        assert_ne!(a, b);
        assert_ne!(b, leftover);
        assert_eq!(fs::read(&leftover).unwrap(), b"theirs");
        assert!(b.file_name().unwrap().to_string_lossy().starts_with(".b.txt."));
    }

    #[test]
    fn into_a_missing_folder_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_atomic(&dir.path().join("nope/a.txt"), b"x", 0o600).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
