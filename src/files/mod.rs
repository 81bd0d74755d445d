//! The file system, in one place: every file aidpay writes, hashes, lists, moves or keeps.
//!
//! - [`atomic`]: [`write_atomic`] / [`write_atomic_with`] (temp file in the same folder, write,
//!   fsync, rename, fsync the folder) and [`sync_dir`]: the outbox, the inbox's fetched files,
//!   reports, key files and quarantine reasons are written so, whole or absent. The bank's drop
//!   folder keeps its own stage / hand-over protocol ([`crate::transport::dropfolder`]) on the
//!   same pieces ([`create_temp`], [`sync_dir`]).
//! - [`hash`]: [`sha256_hex`], [`sha256_of_file`] and [`hash_file`] (hash, size and head in one
//!   streamed read): the fingerprint recorded for every file in or out.
//! - [`folder`]: [`waiting_files`] (what waits in an inbox), [`move_to_unique_name`] (a done file
//!   out of the inbox, never over another) and [`quarantine`] (an unreadable file kept with its
//!   reason).
//! - [`claim`]: one process at a time works on an inbox file (the daemon and a clerk's
//!   `aidpay ingest` may list the same folder at once). An advisory `flock` on the file itself,
//!   held until the work is done and the file moved away; it vanishes with the process.
//!   [`Snapshot`]: what a file was when reading began (size, mtime, SHA-256), checked again
//!   before anything read from it is committed: a file still being copied in is refused whole.
//! - [`private`]: personal data (the store, reports, quarantined lists) is created 0600 whatever
//!   the umask ([`private_file`], [`make_private`]; [`make_report_private`] for a report group).

pub mod atomic;
pub mod claim;
pub mod folder;
pub mod hash;
pub mod private;

pub use atomic::{Atomic, Existing, create_temp, sync_dir, write_atomic, write_atomic_with};
pub use claim::{Claim, Snapshot, claim, pause_point};
pub use folder::{move_to_unique_name, quarantine, waiting_files};
pub use hash::{Hashed, hash_file, sha256_hex, sha256_of_file};
pub use private::{group_id, make_private, make_report_private, private_file, readable_by_others, set_mode};

use std::path::PathBuf;

/// A file-system operation that failed, and on what path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FsError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl FsError {
    pub fn new(path: impl Into<PathBuf>, source: std::io::Error) -> FsError {
        FsError { path: path.into(), source }
    }
}

impl From<FsError> for std::io::Error {
    /// Keeps the kind (`AlreadyExists`, `NotFound`, …), with the path in the message.
    fn from(e: FsError) -> std::io::Error {
        std::io::Error::new(e.source.kind(), e)
    }
}
