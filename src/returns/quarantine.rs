//! Quarantine: a file that cannot be read is kept, never deleted, with the reason beside it
//! (`<name>.reason.txt`), so finance staff or the bank can look at exactly what came in.

use std::path::{Path, PathBuf};

/// Moves `path` into `dir` (a unique name if one exists already) and writes the reason next to
/// it. Falls back to copy + remove across file systems.
pub fn quarantine(path: &Path, dir: &Path, reason: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "unnamed".into());
    let mut target = dir.join(&name);
    let mut n = 1;
    while target.exists() {
        target = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    if std::fs::rename(path, &target).is_err() {
        std::fs::copy(path, &target)?;
        std::fs::remove_file(path)?;
    }
    // A grant list holds names, ID and card numbers: whatever mode it came with, only aidpay
    // reads it here.
    crate::files::make_private(&target)?;
    let reason_file = PathBuf::from(format!("{}.reason.txt", target.display()));
    std::io::Write::write_all(&mut crate::files::private_file(&reason_file)?, format!("{reason}\n").as_bytes())?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_file_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.xml");
        std::fs::write(&f, b"<Document>").unwrap();
        let q = dir.path().join("quarantine");
        let moved = quarantine(&f, &q, "truncated").unwrap();
        assert!(!f.exists());
        assert_eq!(std::fs::read(&moved).unwrap(), b"<Document>");
        assert!(std::fs::read_to_string(format!("{}.reason.txt", moved.display())).unwrap().contains("truncated"));
        std::fs::write(&f, b"again").unwrap();
        let second = quarantine(&f, &q, "again").unwrap();
        assert_ne!(second, moved, "an earlier quarantined file is never overwritten");
    }
}
