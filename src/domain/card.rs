//! The dedicated aid card (学生资助专用卡): a debit card number of 16–19 digits with a Luhn check
//! digit. Shown masked (`6222 **** **** 1234`) outside the store and the bank file.

use std::fmt;

/// A checked card number, digits only.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CardNumber(String);

/// Why a text is not a valid card number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("卡号只能包含数字")]
    NotDigits,
    #[error("卡号为 {0} 位，应为 16 至 19 位")]
    Length(usize),
    #[error("卡号校验位错误（卡号有误）")]
    Luhn,
}

/// True when the digits pass the Luhn (mod 10) check.
pub fn luhn_ok(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.chars().rev().enumerate() {
        let Some(mut d) = c.to_digit(10) else { return false };
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

impl CardNumber {
    /// Accepts the spaces and dashes people type between digit groups.
    pub fn parse(text: &str) -> Result<CardNumber, CardError> {
        let s: String = super::name::to_half_width(text)
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
            return Err(CardError::NotDigits);
        }
        if !(16..=19).contains(&s.len()) {
            return Err(CardError::Length(s.len()));
        }
        if !luhn_ok(&s) {
            return Err(CardError::Luhn);
        }
        Ok(CardNumber(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_card(&self.0)
    }
}

/// `6222 **** **** 1234`: the first and last four digits, for logs and ordinary reports.
/// Works on any text, also a number that failed validation.
pub fn mask_card(s: &str) -> String {
    let digits: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() < 8 {
        return "*".repeat(digits.len());
    }
    let head: String = digits[..4].iter().collect();
    let tail: String = digits[digits.len() - 4..].iter().collect();
    format!("{head} **** **** {tail}")
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_valid_cards_with_spaces() {
        assert!(CardNumber::parse("6222021234567890128").is_ok());
        assert_eq!(CardNumber::parse("6222 0212 3456 7890 128").unwrap().as_str(), "6222021234567890128");
        assert!(CardNumber::parse("6217000010001234569").is_ok());
    }

    #[test]
    fn rejects_bad_luhn_length_and_letters() {
        assert_eq!(CardNumber::parse("6222021234567890129"), Err(CardError::Luhn));
        assert_eq!(CardNumber::parse("622202123456789"), Err(CardError::Length(15)));
        assert_eq!(CardNumber::parse("6222A21234567890128"), Err(CardError::NotDigits));
        assert_eq!(CardNumber::parse(""), Err(CardError::NotDigits));
    }

    #[test]
    fn masks_all_but_first_and_last_four() {
        assert_eq!(mask_card("6222021234567890128"), "6222 **** **** 0128");
        let c = CardNumber::parse("6222021234567890128").unwrap();
        assert!(!format!("{c:?}").contains("1234567890"));
    }

    proptest! {
        #[test]
        fn one_changed_digit_breaks_luhn(body in "62[0-9]{15}", pos in 0usize..18, delta in 1u32..10) {
            let check = (0..10).map(|d| format!("{body}{d}")).find(|s| luhn_ok(s)).unwrap();
            prop_assert!(CardNumber::parse(&check).is_ok());
            let mut digits: Vec<u32> = check.chars().map(|c| c.to_digit(10).unwrap()).collect();
            digits[pos] = (digits[pos] + delta) % 10;
            let changed: String = digits.iter().map(|d| char::from_digit(*d, 10).unwrap()).collect();
            prop_assert!(!luhn_ok(&changed));
        }
    }
}
