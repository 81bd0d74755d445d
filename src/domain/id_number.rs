//! The resident ID number (居民身份证号码, GB 11643-1999): 17 digits and an ISO 7064 MOD 11-2
//! check character (`0`–`9` or `X`). Shown masked outside the store.

use chrono::NaiveDate;
use std::fmt;

/// A checked 18-character ID number, upper-case `X`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

/// Why a text is not a valid ID number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("身份证号为 {0} 位，应为 18 位")]
    Length(usize),
    #[error("身份证号应为 17 位数字加 1 位数字或 X")]
    Characters,
    #[error("身份证号中的出生日期 {0} 不存在")]
    BirthDate(String),
    #[error("身份证号校验位为 {found}，应为 {expected}")]
    CheckDigit { found: char, expected: char },
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The MOD 11-2 check character for the first 17 digits.
pub fn check_char(first17: &str) -> Option<char> {
    let mut sum = 0u32;
    for (c, w) in first17.chars().zip(WEIGHTS) {
        sum += c.to_digit(10)? * w;
    }
    Some(CHECK[(sum % 11) as usize])
}

impl IdNumber {
    /// Accepts spaces and a lower-case `x`, as they appear in school exports.
    pub fn parse(text: &str) -> Result<IdNumber, IdNumberError> {
        let s: String = super::name::to_half_width(text)
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let n = s.chars().count();
        if n != 18 {
            return Err(IdNumberError::Length(n));
        }
        // Digits and X only, so the cuts below are at character boundaries ('€' from a GBK
        // byte 0x80 would put one inside a character).
        if !s.is_ascii() {
            return Err(IdNumberError::Characters);
        }
        let (body, last) = s.split_at(17);
        let last = last.chars().next().unwrap_or('?');
        if !body.chars().all(|c| c.is_ascii_digit()) || !(last.is_ascii_digit() || last == 'X') {
            return Err(IdNumberError::Characters);
        }
        let birth = &body[6..14];
        if NaiveDate::parse_from_str(birth, "%Y%m%d").is_err() {
            return Err(IdNumberError::BirthDate(birth.to_string()));
        }
        let expected = check_char(body).ok_or(IdNumberError::Characters)?;
        if expected != last {
            return Err(IdNumberError::CheckDigit { found: last, expected });
        }
        Ok(IdNumber(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `110105********0018`: region kept, birth date and sequence hidden.
    pub fn masked(&self) -> String {
        mask_id(&self.0)
    }
}

/// Masks any ID-like text the same way, also one that failed validation.
pub fn mask_id(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    // Up to ten characters, the six kept in front and the four behind would show them all.
    if chars.len() <= 10 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 10))
}

impl fmt::Debug for IdNumber {
    // Debug output ends up in logs: never the full number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Synthetic numbers built with the check digit rule, not real people.
    /// Found by the csv_grants fuzzer (fixtures/grants/fuzz-csv-nine-char-id-number.csv): an ID
    /// of 9 characters made `len - 10` underflow, so the import's reading thread panicked.
    #[test]
    fn masks_short_ids_of_any_length_without_panicking() {
        for n in 0..=12 {
            let id: String = "1301022009091".chars().take(n).collect();
            let masked = mask_id(&id);
            assert_eq!(masked.chars().count(), n, "{id:?} → {masked:?}");
        }
        assert_eq!(mask_id("130102200"), "*********");
        assert_eq!(mask_id("1301022009"), "**********", "head and tail would show all ten");
        assert_eq!(mask_id("13010220090"), "130102*0090");
    }

    #[test]
    fn accepts_valid_numbers_with_x_and_spaces() {
        assert_eq!(IdNumber::parse("11010519491231002X").unwrap().as_str(), "11010519491231002X");
        assert!(IdNumber::parse("11010519491231002x").is_ok());
        assert!(IdNumber::parse("110105 19491231 002X").is_ok());
        assert!(IdNumber::parse("440524188001010014").is_ok());
    }

    #[test]
    fn rejects_wrong_check_digit_length_and_date() {
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(IdNumberError::CheckDigit { found: '1', expected: 'X' })
        );
        assert_eq!(IdNumber::parse("1101051949123100"), Err(IdNumberError::Length(16)));
        assert_eq!(IdNumber::parse("11010519491231002Y"), Err(IdNumberError::Characters));
        assert!(matches!(IdNumber::parse("110105194913310025"), Err(IdNumberError::BirthDate(_))));
    }

    #[test]
    fn masks_the_middle() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "110105********002X");
        assert!(!format!("{id:?}").contains("19491231"));
    }

    #[test]
    fn eighteen_characters_with_a_multibyte_one_are_refused_not_a_panic() {
        assert!(matches!(IdNumber::parse("1301072016021855€X"), Err(IdNumberError::Characters)));
        assert!(matches!(IdNumber::parse("13010720160218550€"), Err(IdNumberError::Characters)));
    }

    proptest! {
        #[test]
        fn a_generated_number_validates_and_any_other_last_char_fails(
            region in 110000u32..659999, days in 0i64..30000, seq in 0u32..999, other in 0usize..11
        ) {
            let birth = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap() + chrono::Duration::days(days);
            let body = format!("{region:06}{}{seq:03}", birth.format("%Y%m%d"));
            let good = check_char(&body).unwrap();
            let good_text = format!("{body}{good}");
            prop_assert!(IdNumber::parse(&good_text).is_ok());
            let bad = CHECK[other];
            if bad != good {
                let is_check_digit_error = matches!(IdNumber::parse(&format!("{body}{bad}")), Err(IdNumberError::CheckDigit { .. }));
                prop_assert!(is_check_digit_error);
            }
        }
    }
}
