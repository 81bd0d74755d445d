//! Inbox files: one process at a time ([`claim`]), read whole and unchanged ([`Snapshot`]).

use super::hash::{Hashed, hash_file};
use std::fs::File;
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
        Snapshot::read(path, 0).map(|(s, _)| s)
    }

    /// As [`Snapshot::take`], also handing back what hashing read ([`Hashed`]: the bytes
    /// counted and the first `head_len` of them), so a caller that needs the hash, the size or
    /// the head reads the file once.
    pub fn read(path: &Path, head_len: usize) -> std::io::Result<(Snapshot, Hashed)> {
        let meta = std::fs::metadata(path)?;
        let hashed = hash_file(path, head_len)?;
        Ok((Snapshot { size: meta.len(), modified: meta.modified().ok(), sha256: hashed.sha256.clone() }, hashed))
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
