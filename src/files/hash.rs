//! SHA-256 of bytes and of files: the fingerprint recorded for every file sent or received.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lower-case hex SHA-256 of a file's bytes, read in blocks (files of a province's term are
/// hundreds of megabytes).
pub fn sha256_of_file(path: &Path) -> std::io::Result<String> {
    hash_file(path, 0).map(|h| h.sha256)
}

/// What one streamed read of a file gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    /// Lower-case hex SHA-256 of the bytes read.
    pub sha256: String,
    /// How many bytes were read (what the file held while it was read).
    pub size: u64,
    /// The first bytes read, at most the `head_len` asked for (to tell a file's kind).
    pub head: Vec<u8>,
}

/// Reads `path` once, in blocks: its SHA-256, its size and its first `head_len` bytes.
pub fn hash_file(path: &Path, head_len: usize) -> std::io::Result<Hashed> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut head = Vec::with_capacity(head_len.min(64 * 1024));
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if head.len() < head_len {
            head.extend_from_slice(&buf[..n.min(head_len - head.len())]);
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok(Hashed { sha256: hex::encode(h.finalize()), size, head })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_matches_the_known_vector() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn a_file_hashes_as_its_bytes_with_its_size_and_head() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        let bytes: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &bytes).unwrap();
        let h = hash_file(&p, 16 * 1024).unwrap();
        assert_eq!(h.sha256, sha256_hex(&bytes));
        assert_eq!(h.size, bytes.len() as u64);
        assert_eq!(h.head, bytes[..16 * 1024]);
        assert_eq!(sha256_of_file(&p).unwrap(), h.sha256);
        assert!(hash_file(&p, 0).unwrap().head.is_empty());
    }
}
