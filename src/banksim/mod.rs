//! The bank simulator (to be written).
