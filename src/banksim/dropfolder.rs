//! The simulator's drop-folder side: what the bank's front-end machine (前置机) does with the
//! folder we deliver into.
//!
//! It takes every *complete* file: names starting with `.` or ending in `.part` are files still
//! being written (see [`crate::transport::dropfolder`]) and are left alone. A taken file is moved
//! into `dir/picked/`, so it is not taken twice and the test or demo can still look at it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One file the front-end took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickedUp {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// Takes every complete regular file in `dir`, in name order, moving each into `dir/picked/`.
/// A name already used in `picked/` gets a numeric suffix (`name.1`, `name.2`, …) rather than
/// overwriting the earlier file. Names that are not UTF-8 are skipped.
pub fn pick_up(dir: &Path) -> io::Result<Vec<PickedUp>> {
    let picked_dir = dir.join("picked");
    fs::create_dir_all(&picked_dir)?;

    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let Ok(name) = entry.file_name().into_string() else {
            tracing::warn!(path = %entry.path().display(), "simulator pickup: skipping a non-UTF-8 file name");
            continue;
        };
        if name.starts_with('.') || name.ends_with(".part") {
            continue;
        }
        names.push(name);
    }
    names.sort();

    let mut taken = Vec::with_capacity(names.len());
    for file_name in names {
        let source = dir.join(&file_name);
        let bytes = fs::read(&source)?;
        fs::rename(&source, free_name(&picked_dir, &file_name))?;
        tracing::debug!(file_name, bytes = bytes.len(), "simulator pickup: took file");
        taken.push(PickedUp { file_name, bytes });
    }
    Ok(taken)
}

fn free_name(dir: &Path, name: &str) -> PathBuf {
    let mut candidate = dir.join(name);
    let mut n = 0u32;
    while candidate.exists() {
        n += 1;
        candidate = dir.join(format!("{name}.{n}"));
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::dropfolder::deliver;

    #[test]
    fn picks_up_delivered_files_and_leaves_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        deliver(dir.path(), "B-1.xml", b"<one/>").unwrap();
        deliver(dir.path(), "B-2.txt", b"two").unwrap();
        fs::write(dir.path().join(".B-3.txt.part"), b"half").unwrap();
        fs::write(dir.path().join("B-4.txt.part"), b"half").unwrap();

        let taken = pick_up(dir.path()).unwrap();
        assert_eq!(
            taken,
            vec![
                PickedUp { file_name: "B-1.xml".into(), bytes: b"<one/>".to_vec() },
                PickedUp { file_name: "B-2.txt".into(), bytes: b"two".to_vec() },
            ]
        );
        assert!(!dir.path().join("B-1.xml").exists());
        assert_eq!(fs::read(dir.path().join("picked/B-1.xml")).unwrap(), b"<one/>");
        assert!(dir.path().join(".B-3.txt.part").exists(), "temp files are not taken");
        assert!(dir.path().join("B-4.txt.part").exists());

        assert!(pick_up(dir.path()).unwrap().is_empty(), "nothing is taken twice");
    }

    #[test]
    fn same_name_twice_keeps_both_copies() {
        let dir = tempfile::tempdir().unwrap();
        deliver(dir.path(), "r.txt", b"first").unwrap();
        pick_up(dir.path()).unwrap();
        deliver(dir.path(), "r.txt", b"second").unwrap();
        pick_up(dir.path()).unwrap();
        assert_eq!(fs::read(dir.path().join("picked/r.txt")).unwrap(), b"first");
        assert_eq!(fs::read(dir.path().join("picked/r.txt.1")).unwrap(), b"second");
    }
}
