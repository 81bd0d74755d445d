//! ISO 20022 pain.001 writer (to be written).
