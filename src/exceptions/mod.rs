//! Exceptions: the finance staff's work list and what they may do about each item ([`resolve`]).
//! The vocabulary (kinds, severities, wording) is [`crate::domain::exception`]; the rows live in the
//! store.

pub mod resolve;

pub use resolve::{Action, ResolveError, ResolveOutcome, Resolved, resolve};

pub use crate::domain::exception::{ExceptionKind, NewException, Severity};
use crate::store::{ExceptionFilter, ExceptionRow, Store, StoreError};

/// Lists exceptions for the work list.
pub async fn list(store: &Store, filter: &ExceptionFilter) -> Result<Vec<ExceptionRow>, StoreError> {
    store.list_exceptions(filter).await
}
