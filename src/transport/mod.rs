//! Handing files to the bank: drop folder and HTTPS gateway (to be written).
