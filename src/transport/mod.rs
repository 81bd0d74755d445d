//! Handing a finished bank file to the bank, and fetching the bank's answer files back.
//!
//! A bank accepts files in one of two ways (see `DOMAIN.md`):
//! - [`dropfolder`]: we write the file into a folder that the bank's front-end machine (前置机)
//!   watches and picks up from. The only hard part is never letting it see half a file.
//! - [`gateway`]: an HTTPS bank–enterprise gateway (银企直连) that takes an upload and later
//!   offers result files. The hard part is retrying without ever creating a second batch.
//!
//! Both are written so that *doing it again is safe*: a retry after a crash, a timeout or a lost
//! answer either finds the same file already there (drop folder) or is recognised by the bank as
//! the same batch through its idempotency key (gateway). Whether the bank has already *picked up*
//! or *executed* a file is the caller's business, from its own records; transport does not guess.
//!
//! Secrets: the gateway key is a [`secrecy::SecretString`]; it is never logged, never put in an
//! error message, and printed as `[REDACTED]` by `Debug`.

pub mod dropfolder;
pub mod gateway;

use std::path::PathBuf;

/// The fingerprint of what is sent, where callers of transport have long found it (now
/// [`crate::files::sha256_hex`]).
pub use crate::files::sha256_hex;
pub use dropfolder::deliver;
pub use gateway::{GatewayClient, GatewaySettings, UploadReceipt};

/// Everything that can go wrong handing a file to the bank or fetching its answer.
///
/// Each variant's `Display` is meant for finance staff and logs alike: it names the file or the
/// HTTP status, never the gateway key. Bodies returned by the bank are cut to their first
/// 200 characters.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A file-system operation failed; `path` says on what.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The gateway answered with a status that is neither success nor a plain rejection (a 5xx or
    /// 429 seen on one attempt, or an unexpected 1xx/3xx). `body` holds its first 200 characters.
    #[error("bank gateway answered HTTP {status}: {body}")]
    Http { status: u16, body: String },

    /// One attempt got no complete answer within the configured timeout.
    #[error("bank gateway did not answer in time")]
    Timeout,

    /// One attempt could not reach the gateway at all (refused, reset, DNS, TLS…).
    #[error("could not reach the bank gateway: {0}")]
    Network(String),

    /// Every attempt failed with a retryable error; `last` describes the last one.
    #[error("gave up after {attempts} attempt(s); last error: {last}")]
    GaveUp { attempts: u32, last: String },

    /// The gateway refused the request with a 4xx other than 429. Final: sending the same request
    /// again would be refused again, so it is not retried. `body` holds its first 200 characters.
    #[error("bank gateway rejected the request with HTTP {status}: {body}")]
    Rejected { status: u16, body: String },

    /// The folder (the outbox, the inbox or a bank's drop folder) already holds a *different*
    /// file of the same name. Nothing was written.
    #[error("the folder already holds a different file named {}", path.display())]
    Conflict { path: PathBuf },

    /// The gateway answered success, but not with what the protocol promises (e.g. bad JSON).
    #[error("bank gateway answered with an unexpected body: {0}")]
    InvalidResponse(String),

    /// The request could not even be formed: a file name that is not a plain ASCII name, a base
    /// URL that is not http(s), a client that cannot be built. Fix the input or the configuration.
    #[error("invalid transport request: {0}")]
    Invalid(String),
}

impl From<crate::files::FsError> for TransportError {
    fn from(e: crate::files::FsError) -> Self {
        TransportError::Io { path: e.path, source: e.source }
    }
}

impl TransportError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TransportError::Io { path: path.into(), source }
    }
}

/// The first 200 characters of a response body, lossily decoded, for error messages.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}
