//! Name normalisation, so that `买买提•艾力`, `买买提・艾力 ` and `买买提·艾力` compare equal:
//! full-width ASCII to half-width, the middle-dot variants to U+00B7, stray spaces removed.

/// Full-width ASCII (U+FF01–U+FF5E) and the ideographic space to their half-width forms.
pub fn to_half_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            other => other,
        })
        .collect()
}

/// The characters people and systems use for the middle dot in minority names.
fn is_middle_dot(c: char) -> bool {
    matches!(
        c,
        '\u{00B7}' | '\u{2022}' | '\u{2027}' | '\u{30FB}' | '\u{FF65}' | '\u{2219}' | '\u{22C5}' | '\u{0387}' | '\u{16EB}' | '\u{2E31}' | '\u{FF0E}' | '.'
    )
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{3FFFF}')
}

/// The canonical form of a person's name for storing and comparing.
///
/// Chinese names carry no spaces, so in a name with a CJK character every space goes; a Latin
/// name keeps single spaces between words.
pub fn normalize_name(s: &str) -> String {
    let half = to_half_width(s);
    let has_cjk = half.chars().any(is_cjk);
    let mut out = String::with_capacity(half.len());
    for word in half.split_whitespace() {
        if !out.is_empty() && !has_cjk {
            out.push(' ');
        }
        out.extend(word.chars().map(|c| if is_middle_dot(c) { '\u{00B7}' } else { c }));
    }
    // "买买提 · 艾力" has spaces around the dot; they went above.
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middle_dot_variants_and_spaces_compare_equal() {
        let canonical = "买买提·艾力";
        for v in ["买买提·艾力", "买买提•艾力", "买买提・艾力", "买买提･艾力", " 买买提 · 艾力 ", "买买提．艾力", "买买提.艾力"] {
            assert_eq!(normalize_name(v), canonical, "{v}");
        }
    }

    #[test]
    fn full_width_and_stray_spaces() {
        assert_eq!(normalize_name("张　三"), "张三");
        assert_eq!(normalize_name(" 李 四 "), "李四");
        assert_eq!(normalize_name("ＡＢＣ　Ｄｅ"), "ABC De");
        assert_eq!(to_half_width("１２３"), "123");
    }
}
