//! Domestic delimited batch templates (to be written).
