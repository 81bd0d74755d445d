//! Files aidpay reads from folders others write to, and files it writes with personal data.
//!
//! - [`claim`]: one process at a time works on an inbox file (the daemon and a clerk's
//!   `aidpay ingest` may list the same folder at once). An advisory `flock` on the file itself,
//!   held until the work is done and the file moved away; it vanishes with the process.
//! - [`Snapshot`]: what a file was when reading began (size, mtime, SHA-256), checked again
//!   before anything read from it is committed: a file still being copied in is refused whole.
//! - [`private_file`] / [`make_private`]: personal data (the store, reports, quarantined lists)
//!   is created 0600 whatever the umask.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

/// An inbox file this process works on; others skip it until it is dropped.
#[derive(Debug)]
pub struct Claim {
    _file: File,
}

/// Takes `path` for this process: `None` when another process works on it or has already moved
/// it away (then it is not ours to touch, and not an error).
pub fn claim(path: &Path) -> std::io::Result<Option<Claim>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    // The other process may have finished and moved the file between our open and our lock:
    // the name must still be the file we locked.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let ours = file.metadata()?;
        match std::fs::metadata(path) {
            Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => {}
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Some(Claim { _file: file }))
}

/// What a file was when reading began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub size: u64,
    pub modified: Option<SystemTime>,
    pub sha256: String,
}

impl Snapshot {
    /// Size and mtime, then the content's SHA-256 (streamed).
    pub fn take(path: &Path) -> std::io::Result<Snapshot> {
        let meta = std::fs::metadata(path)?;
        let mut f = File::open(path)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(Snapshot { size: meta.len(), modified: meta.modified().ok(), sha256: hex::encode(h.finalize()) })
    }

    /// Checks the file is still what it was: `Err` says what changed (in Chinese, then English),
    /// for a message that refuses the file.
    pub fn unchanged(&self, path: &Path) -> Result<(), String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("读取过程中文件不见了 (the file went away while it was read: {e})"))?;
        if meta.len() != self.size {
            return Err(format!(
                "读取过程中文件被修改（大小由 {} 字节变为 {} 字节），可能仍在复制中；未导入任何内容，请等文件复制完成后重试 \
                 (the file changed while it was read: size {} → {} bytes; nothing applied)",
                self.size,
                meta.len(),
                self.size,
                meta.len()
            ));
        }
        if meta.modified().ok() != self.modified {
            return Err("读取过程中文件被修改（修改时间变了），可能仍在复制中；未导入任何内容，请稍后重试 \
                        (the file changed while it was read: its modification time moved; nothing applied)"
                .into());
        }
        let now = Snapshot::take(path).map_err(|e| format!("读取过程中文件无法再读取 (the file could not be read again: {e})"))?;
        if now.sha256 != self.sha256 {
            return Err("读取过程中文件内容被修改（SHA-256 不同），未导入任何内容，请稍后重试 \
                        (the file changed while it was read: its content hash differs; nothing applied)"
                .into());
        }
        Ok(())
    }
}

/// Creates (or truncates) `path` readable by its owner only (0600), whatever the umask.
pub fn private_file(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let f = o.open(path)?;
    make_private(path)?;
    Ok(f)
}

/// Sets an existing file to 0600 (a file moved in keeps the mode it came with).
pub fn make_private(path: &Path) -> std::io::Result<()> {
    set_mode(path, 0o600)
}

/// Sets a file's permission bits (no-op off unix).
pub fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The id of a group named in /etc/group (or given as a number).
pub fn group_id(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// Makes a report file private: 0600, or 0640 and owned by `group` when one is configured.
pub fn make_report_private(path: &Path, group: Option<&str>) -> std::io::Result<()> {
    let Some(g) = group else { return make_private(path) };
    let gid = group_id(g).ok_or_else(|| std::io::Error::other(format!("paths.reports_group: no such group '{g}'")))?;
    #[cfg(unix)]
    std::os::unix::fs::chown(path, None, Some(gid))?;
    set_mode(path, 0o640)
}

/// Whether others than the owner and group may read the file (mode `o+r`).
pub fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// A test hook: with `AIDPAY_PAUSE_AT=<name>:<flag file>`, the process creates the flag file at
/// the step `name` and waits (at most 30 s) until the test removes it. Lets a test change a file
/// while it is being read, at a known moment.
pub fn pause_point(name: &str) {
    let Ok(v) = std::env::var("AIDPAY_PAUSE_AT") else { return };
    let Some((at, flag)) = v.split_once(':') else { return };
    if at != name {
        return;
    }
    let flag = Path::new(flag);
    if std::fs::write(flag, b"").is_err() {
        return;
    }
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while flag.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_file_is_skipped_by_a_second_claim_and_once_moved() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.xml");
        std::fs::write(&p, b"x").unwrap();
        let first = claim(&p).unwrap();
        assert!(first.is_some());
        assert!(claim(&p).unwrap().is_none(), "held by the first");
        std::fs::rename(&p, dir.path().join("moved.xml")).unwrap();
        drop(first);
        assert!(claim(&p).unwrap().is_none(), "gone");
    }

    #[test]
    fn a_changed_file_is_named_as_changed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        std::fs::write(&p, b"abc").unwrap();
        let s = Snapshot::take(&p).unwrap();
        assert!(s.unchanged(&p).is_ok());
        std::fs::write(&p, b"abcd").unwrap();
        assert!(s.unchanged(&p).unwrap_err().contains("读取过程中文件被修改"));
    }
}
