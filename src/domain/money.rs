//! Money as integer fen (分). Amounts are parsed exactly from text, never through a float.

use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;

/// An amount of CNY in fen (1 yuan = 100 fen). The store and all arithmetic use this, so every
/// control sum is an exact integer sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fen(pub i64);

/// Why a text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("金额为空")]
    Empty,
    #[error("“{0}”不是数字")]
    NotANumber(String),
    #[error("“{0}”超过两位小数")]
    TooManyDecimals(String),
    #[error("“{0}”不是大于零的金额")]
    NotPositive(String),
    #[error("“{0}”金额过大")]
    TooLarge(String),
}

impl Fen {
    /// Parses yuan as finance staff write it: `1000`, `1000.5`, `1,000.50`, `￥1000`, `1000元`,
    /// full-width digits. At most two decimals; zero and negative amounts are refused.
    pub fn parse_yuan(text: &str) -> Result<Fen, AmountError> {
        let cleaned: String = super::name::to_half_width(text)
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, ',' | '¥' | '￥' | '元'))
            .collect();
        if cleaned.is_empty() {
            return Err(AmountError::Empty);
        }
        // Only plain decimal notation: no exponent, no sign tricks, no hex.
        if !cleaned.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == '+') {
            return Err(AmountError::NotANumber(text.trim().to_string()));
        }
        let d = Decimal::from_str(&cleaned).map_err(|_| AmountError::NotANumber(text.trim().to_string()))?;
        Fen::from_decimal(d).map_err(|e| match e {
            AmountError::TooManyDecimals(_) => AmountError::TooManyDecimals(text.trim().to_string()),
            AmountError::NotPositive(_) => AmountError::NotPositive(text.trim().to_string()),
            other => other,
        })
    }

    /// Converts an exact decimal of yuan; refuses a third decimal instead of rounding it away.
    pub fn from_decimal(d: Decimal) -> Result<Fen, AmountError> {
        let d = d.normalize();
        if d.scale() > 2 {
            return Err(AmountError::TooManyDecimals(d.to_string()));
        }
        if d <= Decimal::ZERO {
            return Err(AmountError::NotPositive(d.to_string()));
        }
        // Near Decimal's limit (28 digits) ×100 overflows: that is too large, not a panic.
        let fen = d.checked_mul(Decimal::ONE_HUNDRED).ok_or_else(|| AmountError::TooLarge(d.to_string()))?;
        i64::try_from(fen).map(Fen).map_err(|_| AmountError::TooLarge(d.to_string()))
    }

    /// The amount as an exact decimal of yuan with two places.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }
}

impl fmt::Display for Fen {
    /// Yuan with two decimals, as banks and reports write it: `1000.50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl std::ops::Add for Fen {
    type Output = Fen;
    fn add(self, o: Fen) -> Fen {
        Fen(self.0 + o.0)
    }
}

impl std::iter::Sum for Fen {
    fn sum<I: Iterator<Item = Fen>>(iter: I) -> Fen {
        Fen(iter.map(|f| f.0).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_ways_staff_write_amounts() {
        assert_eq!(Fen::parse_yuan("1000"), Ok(Fen(100_000)));
        assert_eq!(Fen::parse_yuan("1000.5"), Ok(Fen(100_050)));
        assert_eq!(Fen::parse_yuan("1,000.50"), Ok(Fen(100_050)));
        assert_eq!(Fen::parse_yuan(" ￥１０００ "), Ok(Fen(100_000)));
        assert_eq!(Fen::parse_yuan("625元"), Ok(Fen(62_500)));
        assert_eq!(Fen::parse_yuan("0.01"), Ok(Fen(1)));
    }

    #[test]
    fn refuses_what_is_not_an_exact_positive_amount() {
        assert!(matches!(Fen::parse_yuan(""), Err(AmountError::Empty)));
        assert!(matches!(Fen::parse_yuan("abc"), Err(AmountError::NotANumber(_))));
        assert!(matches!(Fen::parse_yuan("1e3"), Err(AmountError::NotANumber(_))));
        assert!(matches!(Fen::parse_yuan("10.005"), Err(AmountError::TooManyDecimals(_))));
        // Found by fuzzing: an amount at Decimal's limit overflowed the ×100 and panicked.
        assert!(matches!(Fen::parse_yuan("7922816251426433759354395033"), Err(AmountError::TooLarge(_))));
        assert!(matches!(Fen::parse_yuan("0"), Err(AmountError::NotPositive(_))));
        assert!(matches!(Fen::parse_yuan("-5"), Err(AmountError::NotPositive(_))));
    }

    #[test]
    fn trailing_zero_decimals_are_fine() {
        assert_eq!(Fen::parse_yuan("1000.500"), Ok(Fen(100_050)));
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(fen in 1i64..10_000_000_000) {
            let text = Fen(fen).to_string();
            prop_assert_eq!(Fen::parse_yuan(&text), Ok(Fen(fen)));
            prop_assert_eq!(Fen(fen).to_decimal().to_string(), text);
        }
    }
}
