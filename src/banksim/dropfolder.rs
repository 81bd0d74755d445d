//! The simulator's drop-folder side: what the bank's front-end machine (前置机) does with the
//! folder we deliver into.
//!
//! It takes every *complete* file: names starting with `.` or ending in `.part` are files still
//! being written (see [`crate::transport::dropfolder`]) and are left alone. A taken file is moved
//! into `dir/picked/`, so it is not taken twice and the test or demo can still look at it.
//!
//! [`pick_up`] takes what is there when it is called; a [`FrontEnd`] is the front-end machine as
//! banks run it: a watcher that takes every file the instant it appears, so a file handed over is
//! gone from the folder a moment later — which is exactly what makes a careless re-delivery pay
//! twice.

use std::fs;
use std::io;
use std::path::Path;

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
        crate::files::move_to_unique_name(&source, &picked_dir)?;
        tracing::debug!(file_name, bytes = bytes.len(), "simulator pickup: took file");
        taken.push(PickedUp { file_name, bytes });
    }
    Ok(taken)
}

/// A bank front-end machine watching a drop folder: a thread that takes every complete file
/// within about a millisecond of its appearing, and keeps what it took (in order) for the test or
/// demo to answer. Stops when [`FrontEnd::stop`] is called or it is dropped.
pub struct FrontEnd {
    taken: std::sync::Arc<std::sync::Mutex<Vec<PickedUp>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FrontEnd {
    /// Starts watching `dir` (created when missing).
    pub fn start(dir: &Path) -> io::Result<FrontEnd> {
        fs::create_dir_all(dir)?;
        let taken = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (dir, t, s) = (dir.to_path_buf(), taken.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                match pick_up(&dir) {
                    Ok(files) if !files.is_empty() => t.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(files),
                    Ok(_) => {}
                    Err(e) => tracing::debug!("simulated front-end: {e}"),
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        Ok(FrontEnd { taken, stop, thread: Some(thread) })
    }

    /// Every file taken so far, in the order taken.
    pub fn taken(&self) -> Vec<PickedUp> {
        self.taken.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Stops watching; returns every file taken.
    pub fn stop(mut self) -> Vec<PickedUp> {
        self.halt();
        self.taken()
    }

    fn halt(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FrontEnd {
    fn drop(&mut self) {
        self.halt();
    }
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
