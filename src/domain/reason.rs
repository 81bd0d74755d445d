//! ISO 20022 status reason codes (`ExternalStatusReason1Code`: AC01, AC04, BE01, …) and the
//! normalisation of the Chinese reason texts that domestic result files (回盘文件) carry.
//!
//! Banks agree on the *text* of a failure reason far more than on their numeric codes (ICBC's
//! `iRetCode`, UnionPay-style 3031, …), so the stable way to classify a domestic rejection is by
//! what the text says: 户名不符 is a name/account mismatch (BE01) whichever bank writes it.
//! [`ReasonTable`] holds that knowledge as data — pattern → ISO code, matched as a substring so
//! that `账户已冻结(止付)` or `3031:账号户名不符` still classify — with the defaults of
//! FORMATS.md §4 "Proposed normalisation" and room for a deployment's own overrides.
//! A text nothing matches becomes [`MS03`] (reason not specified by agent); the original text is
//! always kept beside the code by the callers, so nothing is lost by normalising.
//!
//! [`describe_zh`] gives the Chinese wording of a code for reports to finance staff.

use std::collections::HashMap;

/// The codes this module produces by default (the full ISO set has 286; any 4-character code is
/// accepted in overrides).
pub const AC01: &str = "AC01";
pub const AC04: &str = "AC04";
pub const AC06: &str = "AC06";
pub const AG01: &str = "AG01";
pub const AM02: &str = "AM02";
pub const AM04: &str = "AM04";
pub const AM05: &str = "AM05";
pub const BE01: &str = "BE01";
pub const MS03: &str = "MS03";
pub const RC01: &str = "RC01";
pub const RC08: &str = "RC08";

/// The default table, checked **in this order**, first match wins. Order matters only where one
/// text can contain two patterns: `卡状态异常，交易不允许` is AG01 (FORMATS.md: "AG01 if 交易不允许"),
/// so AG01 comes before the AC06 card-status patterns; `联行号不存在` (RC08) comes before `行号错误`.
const DEFAULTS: &[(&str, &str)] = &[
    // Name does not match the account (the most common one for aid cards).
    ("户名不符", BE01),
    ("户名不一致", BE01),
    ("户名错误", BE01),
    ("收款人名称与账号不符", BE01),
    ("户名与账号不符", BE01),
    ("姓名不符", BE01),
    // Transaction forbidden (before the card-status group, see above).
    ("交易不允许", AG01),
    ("不允许交易", AG01),
    // Closed account.
    ("已销户", AC04),
    ("已关户", AC04),
    ("已清户", AC04),
    ("销户", AC04),
    // Blocked account: frozen, stopped, reported lost, card status.
    ("冻结", AC06),
    ("止付", AC06),
    ("挂失", AC06),
    ("锁定", AC06),
    ("卡状态异常", AC06),
    ("卡状态不正确", AC06),
    ("账户状态错误", AC06),
    ("账户状态异常", AC06),
    ("非活期账号", AC06),
    ("磁卡未生效", AC06),
    // Bank identifier (CNAPS 行号).
    ("联行号不存在", RC08),
    ("行号不存在", RC08),
    ("行号错误", RC01),
    // Wrong or unknown account number.
    ("账号不存在", AC01),
    ("账户不存在", AC01),
    ("无此账户", AC01),
    ("无此账号", AC01),
    ("无效卡号", AC01),
    ("卡号无效", AC01),
    ("账号错误", AC01),
    ("卡号错误", AC01),
    ("卡号不存在", AC01),
    // Money and limits.
    ("余额不足", AM04),
    ("超限额", AM02),
    ("超过限额", AM02),
    ("超出限额", AM02),
    ("重复", AM05),
];

/// Why an override cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    #[error("reason override with an empty text (code {code})")]
    EmptyText { code: String },
    #[error("reason override `{text}` → `{code}`: an ISO reason code is 4 characters A–Z/0–9, e.g. AC01")]
    BadCode { text: String, code: String },
}

/// Chinese reason text → ISO reason code, by substring, overrides before defaults.
#[derive(Debug, Clone)]
pub struct ReasonTable {
    /// (pattern, code) in match order.
    rules: Vec<(String, String)>,
}

impl Default for ReasonTable {
    fn default() -> Self {
        ReasonTable { rules: DEFAULTS.iter().map(|(p, c)| (p.to_string(), c.to_string())).collect() }
    }
}

impl ReasonTable {
    /// The default table (FORMATS.md §4).
    pub fn new() -> Self {
        Self::default()
    }

    /// The defaults plus a deployment's own `text → code` map (e.g. a bank's
    /// `"3057" = "AC06"` or `"账户未激活" = "AC06"`). Overrides are tried before every default,
    /// so an override wins even where a default pattern also matches; among overrides the longer
    /// (more specific) pattern is tried first. Codes are upper-cased; anything that is not four
    /// ASCII letters/digits is refused, so a typo stops start-up rather than a report.
    pub fn with_overrides(overrides: HashMap<String, String>) -> Result<Self, ReasonError> {
        let mut extra = Vec::with_capacity(overrides.len());
        for (text, code) in overrides {
            let text = text.trim().to_string();
            let code = code.trim().to_ascii_uppercase();
            if text.is_empty() {
                return Err(ReasonError::EmptyText { code });
            }
            if !is_reason_code(&code) {
                return Err(ReasonError::BadCode { text, code });
            }
            extra.push((text, code));
        }
        // Deterministic order whatever the HashMap did: longest pattern first, then by text.
        extra.sort_by(|a, b| b.0.chars().count().cmp(&a.0.chars().count()).then_with(|| a.0.cmp(&b.0)));
        extra.extend(Self::default().rules);
        Ok(ReasonTable { rules: extra })
    }

    /// The ISO code for a reason text: the first rule whose pattern occurs in the text, else
    /// MS03. An empty text is MS03 too (a rejection without a reason).
    pub fn code_for(&self, text: &str) -> &str {
        self.matching(text).unwrap_or(MS03)
    }

    /// The ISO code if some rule matches, `None` if the text is unknown (callers that want to
    /// count unknown texts, e.g. to extend the table, use this).
    pub fn matching(&self, text: &str) -> Option<&str> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        self.rules.iter().find(|(pattern, _)| text.contains(pattern.as_str())).map(|(_, code)| code.as_str())
    }
}

/// Is `code` shaped like an ISO external code (4 characters, A–Z and 0–9)?
pub fn is_reason_code(code: &str) -> bool {
    code.len() == 4 && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The Chinese description of an ISO status reason code, for reports to finance staff.
/// An unknown code gives `其他原因`.
pub fn describe_zh(code: &str) -> &'static str {
    match code {
        "AC01" => "账号错误",
        "AC02" => "付款账号错误",
        "AC03" => "收款账号错误",
        "AC04" => "账户已销户",
        "AC05" => "付款账户已销户",
        "AC06" => "账户冻结",
        "AC07" => "收款账户已销户",
        "AC13" => "付款账户类型错误",
        "AC14" => "收款账户类型错误",
        "AG01" => "交易不允许",
        "AG02" => "业务代码无效",
        "AG03" => "账户不支持该交易",
        "AM01" => "金额为零",
        "AM02" => "超过限额",
        "AM04" => "余额不足",
        "AM05" => "重复交易",
        "AM06" => "金额低于下限",
        "AM09" => "金额不符",
        "AM10" => "汇总金额不符",
        "AM12" => "金额无效",
        "BE01" => "户名不符",
        "BE06" => "收款人未知",
        "CURR" => "币种错误",
        "DT01" => "日期无效",
        "DU01" => "报文重复",
        "ED05" => "清算失败",
        "FF01" => "文件格式错误",
        "MD07" => "收款人已故",
        "MS02" => "客户未说明原因",
        "MS03" => "未说明原因",
        "NARR" => "见附言",
        "RC01" => "行号错误",
        "RC08" => "联行号无效",
        "TM01" => "超过截止时间",
        _ => "其他原因",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_mapping_of_formats_md() {
        let t = ReasonTable::new();
        let cases = [
            ("户名不符", BE01),
            ("账号户名不符", BE01),
            ("收款人名称与账号不符", BE01),
            ("账号不存在", AC01),
            ("无此账户", AC01),
            ("无效卡号", AC01),
            ("账号错误", AC01),
            ("卡号不存在", AC01),
            ("账户已销户", AC04),
            ("已关户", AC04),
            ("已清户", AC04),
            ("账户冻结", AC06),
            ("已冻结", AC06),
            ("止付", AC06),
            ("挂失", AC06),
            ("账户被临时锁定", AC06),
            ("卡状态异常", AC06),
            ("账户状态错误", AC06),
            ("非活期账号", AC06),
            ("磁卡未生效", AC06),
            ("余额不足", AM04),
            ("交易不允许", AG01),
            ("重复", AM05),
            ("重复业务", AM05),
            ("超限额", AM02),
            ("行号错误", RC01),
            ("联行号不存在", RC08),
        ];
        for (text, code) in cases {
            assert_eq!(t.code_for(text), code, "{text}");
        }
    }

    #[test]
    fn matches_by_substring() {
        let t = ReasonTable::new();
        assert_eq!(t.code_for("账户已冻结(止付)"), AC06);
        assert_eq!(t.code_for("3031:账号户名不符"), BE01);
        assert_eq!(t.code_for("  交易失败：账号不存在，请核实  "), AC01);
        assert_eq!(t.code_for("银行卡状态不正确(止付，其他异常状态)"), AC06);
        assert_eq!(t.code_for("单笔超限额"), AM02);
    }

    #[test]
    fn transaction_forbidden_wins_over_card_status() {
        assert_eq!(ReasonTable::new().code_for("卡状态异常，交易不允许"), AG01);
    }

    #[test]
    fn unknown_or_empty_text_is_ms03() {
        let t = ReasonTable::new();
        assert_eq!(t.code_for("其他"), MS03);
        assert_eq!(t.code_for("系统繁忙"), MS03);
        assert_eq!(t.code_for(""), MS03);
        assert_eq!(t.code_for("   "), MS03);
        assert_eq!(t.matching("系统繁忙"), None);
    }

    #[test]
    fn override_wins_over_defaults() {
        let mut o = HashMap::new();
        o.insert("卡状态异常".to_string(), "ag03".to_string());
        o.insert("3008".to_string(), "AM04".to_string());
        o.insert("未激活".to_string(), "AC06".to_string());
        let t = ReasonTable::with_overrides(o).expect("valid overrides");
        assert_eq!(t.code_for("卡状态异常"), "AG03");
        assert_eq!(t.code_for("3008 系统繁忙"), AM04);
        assert_eq!(t.code_for("账户未激活"), AC06);
        // Defaults still apply where no override matches.
        assert_eq!(t.code_for("户名不符"), BE01);
        assert_eq!(t.code_for("其他"), MS03);
    }

    #[test]
    fn longer_override_is_tried_first() {
        let mut o = HashMap::new();
        o.insert("状态".to_string(), "NARR".to_string());
        o.insert("状态异常".to_string(), "AG03".to_string());
        let t = ReasonTable::with_overrides(o).expect("valid overrides");
        assert_eq!(t.code_for("卡状态异常"), "AG03");
        assert_eq!(t.code_for("状态未知"), "NARR");
    }

    #[test]
    fn bad_overrides_are_refused() {
        let one = |k: &str, v: &str| HashMap::from([(k.to_string(), v.to_string())]);
        assert!(matches!(ReasonTable::with_overrides(one("x", "AC1")), Err(ReasonError::BadCode { .. })));
        assert!(matches!(ReasonTable::with_overrides(one("x", "AC-1")), Err(ReasonError::BadCode { .. })));
        assert!(matches!(ReasonTable::with_overrides(one(" ", "AC01")), Err(ReasonError::EmptyText { .. })));
    }

    #[test]
    fn every_default_code_has_a_chinese_description() {
        for (_, code) in DEFAULTS {
            assert_ne!(describe_zh(code), "其他原因", "{code}");
            assert!(is_reason_code(code));
        }
        assert_eq!(describe_zh("AC01"), "账号错误");
        assert_eq!(describe_zh("BE01"), "户名不符");
        assert_eq!(describe_zh("MS03"), "未说明原因");
        assert_eq!(describe_zh("ZZ99"), "其他原因");
    }
}
