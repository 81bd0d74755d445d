//! Pure domain types and rules: money, ID numbers, cards, names, the grant itself, the states
//! money and decisions move through ([`state`]), and the exception vocabulary ([`exception`]).
//!
//! Nothing here touches a file, the database or the network, so every rule can be unit- and
//! property-tested beside its code ("parse, don't validate": each newtype has a `parse`).

pub mod card;
pub mod exception;
pub mod grant;
pub mod id_number;
pub mod money;
pub mod name;
pub mod reason;
pub mod state;

pub use card::CardNumber;
pub use exception::{ExceptionKind, NewException, Severity};
pub use grant::{Priority, Stage, Tier};
pub use id_number::IdNumber;
pub use money::Fen;
pub use state::{
    AnswerMove, ApprovalKind, ApprovalStatus, BankVerdict, BatchStatus, CardStatus, ExceptionStatus, FileOutcome, FileStatus, GrantStatus, LabelZh,
    PaymentStatus, Resolution, Role, RunOutcome, StateText,
};
