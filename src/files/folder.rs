//! Folders others write into and files moved out of them: what is waiting, where a done file
//! goes ([`move_to_unique_name`]) and where an unreadable one is kept ([`quarantine`]).
//!
//! **The one naming rule** for a file moved into a folder (`inbox/processed/`,
//! `inbox/grants/processed/`, `paths.quarantine`, the simulator's `picked/`): it keeps its name
//! when that is free, else it gets the first free `name.1`, `name.2`, … (the number appended to
//! the whole name, as those folders have always held them: `a.xml`, `a.xml.1`). A file already
//! in the folder is **never replaced**: the name is taken with a hard link, which fails when the
//! name exists, so two processes moving files of one name at once both keep theirs.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// The files waiting in `dir`, in name order: regular files, not hidden (`.…`, which is also
/// what a writer's temporary or staged file is called) and not `*.part` (a file still being
/// copied in). Folders in it (`processed/`, `grants/`) are not listed.
pub fn waiting_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && !name.starts_with('.') && !name.ends_with(".part") {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Moves `path` into `dir` (made if missing) under the naming rule of the module doc, and
/// returns where it went. Never replaces a file in `dir`.
///
/// Where no hard link can be made (a file system without them, or a file of another owner under
/// `fs.protected_hardlinks`) the file is renamed once the name is seen free; into another file
/// system it is copied under a newly created name (which also never replaces one), synced, and
/// the original removed. Not synced otherwise: a move lost in a power cut only brings the file
/// back where it was, and its recorded hash says it was done.
pub fn move_to_unique_name(path: &Path, dir: &Path) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "unnamed".into());
    for n in 0u32.. {
        let target = if n == 0 { dir.join(&name) } else { dir.join(format!("{name}.{n}")) };
        if move_unless_taken(path, &target)? {
            return Ok(target);
        }
    }
    unreachable!("a free name is found before u32::MAX")
}

/// `Ok(false)` when `target` is taken (nothing moved).
fn move_unless_taken(path: &Path, target: &Path) -> io::Result<bool> {
    match fs::hard_link(path, target) {
        Ok(()) => {
            if let Err(e) = fs::remove_file(path) {
                let _ = fs::remove_file(target);
                return Err(e);
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => copy_unless_taken(path, target),
        Err(_) => {
            if fs::symlink_metadata(target).is_ok() {
                return Ok(false);
            }
            match fs::rename(path, target) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::CrossesDevices => copy_unless_taken(path, target),
                Err(e) => Err(e),
            }
        }
    }
}

fn copy_unless_taken(path: &Path, target: &Path) -> io::Result<bool> {
    let mut out = match OpenOptions::new().write(true).create_new(true).open(target) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e),
    };
    let copied = fs::File::open(path)
        .and_then(|mut from| io::copy(&mut from, &mut out))
        .and_then(|_| out.sync_all())
        .and_then(|()| fs::set_permissions(target, fs::metadata(path)?.permissions()))
        .and_then(|()| fs::remove_file(path));
    if let Err(e) = copied {
        let _ = fs::remove_file(target);
        return Err(e);
    }
    Ok(true)
}

/// Quarantine: a file that cannot be read is kept, never deleted, with the reason beside it.
/// Moves `path` into `dir` ([`move_to_unique_name`]), makes it private (a grant list holds
/// names, ID and card numbers: whatever mode it came with, only aidpay reads it there) and writes
/// the reason to `<kept name>.reason.txt` (0600). Returns where the file is kept.
pub fn quarantine(path: &Path, dir: &Path, reason: &str) -> io::Result<PathBuf> {
    let target = move_to_unique_name(path, dir)?;
    super::make_private(&target)?;
    let reason_file = PathBuf::from(format!("{}.reason.txt", target.display()));
    super::write_atomic(&reason_file, format!("{reason}\n").as_bytes(), 0o600)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_files_skips_temp_hidden_staged_names_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["b.xml", "a.csv", ".hidden", "copying.csv.part", ".B-1.xml.123-4.part", ".x.tmp-1-ab"] {
            fs::write(dir.path().join(n), b"x").unwrap();
        }
        fs::create_dir(dir.path().join("processed")).unwrap();
        let names: Vec<String> = waiting_files(dir.path()).unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["a.csv", "b.xml"]);
    }

    #[test]
    fn a_unique_name_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("processed");
        let f = dir.path().join("r.xml");
        let mut kept = Vec::new();
        for content in ["first", "second", "third"] {
            fs::write(&f, content).unwrap();
            kept.push(move_to_unique_name(&f, &to).unwrap());
            assert!(!f.exists(), "moved, not copied");
        }
        assert_eq!(kept, vec![to.join("r.xml"), to.join("r.xml.1"), to.join("r.xml.2")]);
        for (p, content) in kept.iter().zip(["first", "second", "third"]) {
            assert_eq!(fs::read_to_string(p).unwrap(), content);
        }
    }

    #[test]
    fn a_taken_name_is_skipped_also_when_it_is_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("q");
        fs::create_dir_all(to.join("a.csv")).unwrap();
        let f = dir.path().join("a.csv");
        fs::write(&f, b"x").unwrap();
        assert_eq!(move_to_unique_name(&f, &to).unwrap(), to.join("a.csv.1"));
    }

    #[test]
    fn quarantine_keeps_the_file_private_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.xml");
        fs::write(&f, b"<Document>").unwrap();
        let q = dir.path().join("quarantine");
        let kept = quarantine(&f, &q, "truncated").unwrap();
        assert!(!f.exists());
        assert_eq!(fs::read(&kept).unwrap(), b"<Document>");
        assert_eq!(fs::read_to_string(format!("{}.reason.txt", kept.display())).unwrap(), "truncated\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&kept).unwrap().permissions().mode() & 0o777, 0o600);
        }
        fs::write(&f, b"again").unwrap();
        let second = quarantine(&f, &q, "again").unwrap();
        assert_eq!(second, q.join("bad.xml.1"));
        assert_eq!(fs::read(&kept).unwrap(), b"<Document>", "the earlier one is kept");
        assert!(fs::read_to_string(format!("{}.reason.txt", second.display())).unwrap().contains("again"));
    }
}
