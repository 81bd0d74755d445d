//! Pure domain types and rules: money, ID numbers, cards, names and the grant itself.
//!
//! Nothing here touches a file, the database or the network, so every rule can be unit- and
//! property-tested beside its code ("parse, don't validate": each newtype has a `parse`).

pub mod card;
pub mod grant;
pub mod id_number;
pub mod money;
pub mod name;
pub mod reason;

pub use card::CardNumber;
pub use grant::{Priority, Stage, Tier};
pub use id_number::IdNumber;
pub use money::Fen;
