//! A grant as it arrives approved: its vocabularies (stage, tier, priority) and the parsed record.

use super::{Fen, name::to_half_width};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// School stage (学段).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stage {
    #[serde(rename = "学前")]
    Preschool,
    #[serde(rename = "小学")]
    Primary,
    #[serde(rename = "初中")]
    JuniorSecondary,
    #[serde(rename = "高中")]
    SeniorSecondary,
    #[serde(rename = "中职")]
    Vocational,
    #[serde(rename = "高等")]
    Higher,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Preschool,
        Stage::Primary,
        Stage::JuniorSecondary,
        Stage::SeniorSecondary,
        Stage::Vocational,
        Stage::Higher,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Stage::Preschool => "学前",
            Stage::Primary => "小学",
            Stage::JuniorSecondary => "初中",
            Stage::SeniorSecondary => "高中",
            Stage::Vocational => "中职",
            Stage::Higher => "高等",
        }
    }

    /// The Chinese label, the common long forms (学前教育, 普通高中, 高等教育) or an English name.
    pub fn parse(text: &str) -> Option<Stage> {
        let t = to_half_width(text).trim().to_lowercase();
        let stage = match t.as_str() {
            "学前" | "学前教育" | "幼儿园" | "preschool" => Stage::Preschool,
            "小学" | "primary" => Stage::Primary,
            "初中" | "初级中学" | "junior" | "junior_secondary" => Stage::JuniorSecondary,
            "高中" | "普通高中" | "senior" | "senior_secondary" => Stage::SeniorSecondary,
            "中职" | "中等职业教育" | "中等职业学校" | "vocational" => Stage::Vocational,
            "高等" | "高等教育" | "高校" | "higher" => Stage::Higher,
            _ => return None,
        };
        Some(stage)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Aid tier (资助档次), ordered from lowest to highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    #[serde(rename = "一般困难")]
    General,
    #[serde(rename = "困难")]
    Hard,
    #[serde(rename = "特别困难")]
    EspeciallyHard,
}

impl Tier {
    /// The highest tier: what priority students must receive.
    pub const TOP: Tier = Tier::EspeciallyHard;

    pub fn label(self) -> &'static str {
        match self {
            Tier::General => "一般困难",
            Tier::Hard => "困难",
            Tier::EspeciallyHard => "特别困难",
        }
    }

    pub fn parse(text: &str) -> Option<Tier> {
        let t = to_half_width(text).trim().to_lowercase();
        let tier = match t.as_str() {
            "一般困难" | "一般" | "一档" | "general" => Tier::General,
            "困难" | "比较困难" | "二档" | "hard" => Tier::Hard,
            "特别困难" | "特困" | "三档" | "especially_hard" | "especially hard" => Tier::EspeciallyHard,
            _ => return None,
        };
        Some(tier)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Priority category (重点保障类别): any of these must be paid at the top tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    RegisteredPoor,
    RuralSubsistence,
    Disabled,
    MartyrChild,
    DestituteSupport,
    Disaster,
}

impl Priority {
    pub fn label(self) -> &'static str {
        match self {
            Priority::RegisteredPoor => "建档立卡",
            Priority::RuralSubsistence => "农村低保",
            Priority::Disabled => "残疾",
            Priority::MartyrChild => "烈士子女",
            Priority::DestituteSupport => "特困供养",
            Priority::Disaster => "灾害",
        }
    }

    fn parse_one(text: &str) -> Option<Priority> {
        let p = match text {
            "建档立卡" | "建档立卡贫困户" | "脱贫户" => Priority::RegisteredPoor,
            "农村低保" | "低保" | "城乡低保" => Priority::RuralSubsistence,
            "残疾" | "残疾学生" | "残疾人子女" => Priority::Disabled,
            "烈士子女" => Priority::MartyrChild,
            "特困供养" | "特困供养人员" => Priority::DestituteSupport,
            "灾害" | "突发灾害" | "突发事件" | "灾害或突发事件" => Priority::Disaster,
            _ => return None,
        };
        Some(p)
    }

    /// A list separated by `;`, `；`, `、` or `,`; empty means none. Unknown words are returned as
    /// the error, so the row can be rejected with the exact word.
    pub fn parse_list(text: &str) -> Result<Vec<Priority>, String> {
        let mut out = Vec::new();
        for part in text.split([';', '；', '、', ',', '，']) {
            let part = part.trim();
            if part.is_empty() || part == "无" {
                continue;
            }
            let p = Priority::parse_one(part).ok_or_else(|| part.to_string())?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// The stored form: labels joined by `;`.
    pub fn join(list: &[Priority]) -> String {
        list.iter().map(|p| p.label()).collect::<Vec<_>>().join(";")
    }
}

/// A grant row after parsing: every field well-formed, not yet checked against the rules.
///
/// ID and card numbers are kept as the (whitespace-stripped) text given, because an invalid one is
/// still stored with its grant (held, with an exception) for finance staff to correct.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGrant {
    pub grant_id: String,
    pub name: String,
    pub id_number: String,
    pub school_code: String,
    pub school_name: String,
    pub stage: Stage,
    pub grade: String,
    pub program: String,
    pub tier: Tier,
    pub priority: Vec<Priority>,
    pub period: String,
    pub amount: Fen,
    pub card_holder: String,
    pub card_number: String,
    pub bank: String,
    pub notice_end: NaiveDate,
}

impl NewGrant {
    /// A stable fingerprint of the grant's content: a re-import with the same fingerprint is
    /// unchanged, a different one is a conflict.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            self.grant_id.as_str(),
            &self.name,
            &self.id_number,
            &self.school_code,
            &self.school_name,
            self.stage.label(),
            &self.grade,
            &self.program,
            self.tier.label(),
            &Priority::join(&self.priority),
            &self.period,
            &self.amount.0.to_string(),
            &self.card_holder,
            &self.card_number,
            &self.bank,
            &self.notice_end.to_string(),
        ] {
            h.update(part.as_bytes());
            h.update([0x1f]);
        }
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_parse_chinese_and_english() {
        assert_eq!(Stage::parse("高中"), Some(Stage::SeniorSecondary));
        assert_eq!(Stage::parse(" vocational "), Some(Stage::Vocational));
        assert_eq!(Stage::parse("大学"), None);
        assert_eq!(Tier::parse("特别困难"), Some(Tier::EspeciallyHard));
        assert!(Tier::General < Tier::TOP);
    }

    #[test]
    fn priority_lists_use_either_semicolon() {
        assert_eq!(
            Priority::parse_list("建档立卡；残疾;"),
            Ok(vec![Priority::RegisteredPoor, Priority::Disabled])
        );
        assert_eq!(Priority::parse_list(""), Ok(vec![]));
        assert_eq!(Priority::parse_list("建档立卡;富裕"), Err("富裕".to_string()));
    }
}
