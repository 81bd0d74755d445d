//! The rules a parsed grant must meet before it may be paid (DOMAIN.md, "A grant, as it arrives
//! approved"). Pure: a grant and the configured rules in, the list of violations out. Whether a
//! student already has a grant (`duplicate_grant`) needs the store, so intake checks that one.

use crate::config::{Rules, TierRule};
use crate::domain::card::{CardNumber, mask_card};
use crate::domain::grant::NewGrant;
use crate::domain::id_number::{IdNumber, mask_id};
use crate::domain::name::normalize_name;
use crate::domain::{Priority, Tier};
use crate::exceptions::ExceptionKind;

/// One broken rule, with the reason in words staff understand (numbers masked).
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub kind: ExceptionKind,
    pub detail: String,
}

fn v(kind: ExceptionKind, detail: String) -> Violation {
    Violation { kind, detail }
}

/// Checks every rule that depends on the grant alone.
pub fn check(g: &NewGrant, rules: &Rules) -> Vec<Violation> {
    let mut out = Vec::new();
    if let Err(e) = IdNumber::parse(&g.id_number) {
        out.push(v(ExceptionKind::InvalidIdNumber, format!("身份证号 {}: {e}", mask_id(&g.id_number))));
    }
    if let Err(e) = CardNumber::parse(&g.card_number) {
        out.push(v(ExceptionKind::InvalidCard, format!("卡号 {}: {e}", mask_card(&g.card_number))));
    }
    if !rules.guardian_card_stages.contains(&g.stage) && normalize_name(&g.card_holder) != normalize_name(&g.name) {
        out.push(v(
            ExceptionKind::HolderMismatch,
            format!("{}学段须使用学生本人的卡: 持卡人 {} ≠ 学生 {}", g.stage, g.card_holder, g.name),
        ));
    }
    let standard = rules.standards.lookup(&g.program, g.stage, g.tier, &g.period);
    match standard {
        None => out.push(v(
            ExceptionKind::AmountOffStandard,
            format!("没有配置 {} × {} × {} ({}) 的资助标准", g.program, g.stage, g.tier, g.period),
        )),
        Some((fen, _)) if fen != g.amount => out.push(v(
            ExceptionKind::AmountOffStandard,
            format!("金额 {} 不符合 {} {} {} 的标准 {}", g.amount, g.program, g.stage, g.tier, fen),
        )),
        Some(_) => {}
    }
    // A priority student must get the highest standard. Where the program pays every tier the
    // same (a `*` standard) the tier named does not change the money, so there is nothing to flag.
    if !g.priority.is_empty() && g.tier != Tier::TOP {
        let tiered = rules
            .standards
            .lookup(&g.program, g.stage, Tier::TOP, &g.period)
            .is_none_or(|(_, rule)| rule != TierRule::Any);
        if tiered {
            out.push(v(
                ExceptionKind::PriorityNotTopTier,
                format!("重点保障类别 {} 应按 {} 资助，报送为 {}", Priority::join(&g.priority), Tier::TOP, g.tier),
            ));
        }
    }
    out
}

/// A card is one person's (DOMAIN.md, "Who may do what"): the grant is held as `card_shared` when
/// its card number is already on file for another holder name, or for another student where
/// either stage requires the student's own card. Siblings in stages that allow a guardian's card
/// may share their guardian's card. `others` are the grants on file with the same card number
/// (the grant itself among them is ignored).
pub fn card_shared(g: &NewGrant, others: &[crate::store::CardUse], rules: &Rules) -> Option<Violation> {
    let own_card_stage = |stage: crate::domain::Stage| !rules.guardian_card_stages.contains(&stage);
    let holder = normalize_name(&g.card_holder);
    for o in others.iter().filter(|o| o.grant_id != g.grant_id) {
        if normalize_name(&o.holder) != holder {
            return Some(v(
                ExceptionKind::CardShared,
                format!("卡号 {} 已登记在持卡人 {} 名下（资助编号 {}），与本条持卡人 {} 不同", mask_card(&g.card_number), o.holder, o.grant_id, g.card_holder),
            ));
        }
        let other_stage = crate::domain::Stage::parse(&o.stage);
        if o.id_number != g.id_number && (own_card_stage(g.stage) || other_stage.is_none_or(own_card_stage)) {
            return Some(v(
                ExceptionKind::CardShared,
                format!(
                    "卡号 {} 已用于另一名学生（资助编号 {}，{}），{}学段须使用学生本人的卡",
                    mask_card(&g.card_number),
                    o.grant_id,
                    mask_id(&o.id_number),
                    if own_card_stage(g.stage) { g.stage.label() } else { o.stage.as_str() }
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Standards;
    use crate::domain::{Fen, Stage};
    use chrono::NaiveDate;
    use std::collections::HashSet;

    fn rules() -> Rules {
        let mut s = Standards::default();
        s.insert("国家助学金", Stage::SeniorSecondary, TierRule::Only(Tier::General), "", Fen(75_000));
        s.insert("国家助学金", Stage::SeniorSecondary, TierRule::Only(Tier::EspeciallyHard), "", Fen(125_000));
        s.insert("寄宿生生活补助", Stage::Primary, TierRule::Any, "", Fen(50_000));
        s.insert("寄宿生生活补助", Stage::Primary, TierRule::Any, "2027春", Fen(55_000));
        Rules { guardian_card_stages: [Stage::Preschool, Stage::Primary, Stage::JuniorSecondary].into(), standards: s }
    }

    fn grant() -> NewGrant {
        NewGrant {
            grant_id: "G1".into(),
            name: "买买提·艾力".into(),
            id_number: "11010519491231002X".into(),
            school_code: "S1".into(),
            school_name: "第一中学".into(),
            stage: Stage::SeniorSecondary,
            grade: "高一".into(),
            program: "国家助学金".into(),
            tier: Tier::General,
            priority: vec![],
            period: "2026秋".into(),
            amount: Fen(75_000),
            card_holder: "买买提•艾力".into(),
            card_number: "6222021234567890128".into(),
            bank: "中国银行".into(),
            notice_end: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        }
    }

    fn kinds(g: &NewGrant) -> Vec<ExceptionKind> {
        check(g, &rules()).into_iter().map(|v| v.kind).collect()
    }

    #[test]
    fn a_valid_grant_passes_even_with_another_middle_dot() {
        assert!(kinds(&grant()).is_empty());
    }

    #[test]
    fn bad_id_number_and_card() {
        let g = NewGrant { id_number: "110105194912310021".into(), ..grant() };
        assert_eq!(kinds(&g), [ExceptionKind::InvalidIdNumber]);
        let g = NewGrant { card_number: "6222021234567890129".into(), ..grant() };
        let found = check(&g, &rules());
        assert_eq!(found[0].kind, ExceptionKind::InvalidCard);
        assert!(!found[0].detail.contains("6222021234567890129"), "card is masked");
    }

    #[test]
    fn holder_must_be_the_student_in_senior_stages_only() {
        let g = NewGrant { card_holder: "王芳".into(), ..grant() };
        assert_eq!(kinds(&g), [ExceptionKind::HolderMismatch]);
        let g = NewGrant {
            card_holder: "王芳".into(),
            stage: Stage::Primary,
            program: "寄宿生生活补助".into(),
            amount: Fen(50_000),
            ..grant()
        };
        assert!(kinds(&g).is_empty());
    }

    #[test]
    fn amount_must_fit_the_standard_for_its_term() {
        let g = NewGrant { amount: Fen(80_000), ..grant() };
        assert_eq!(kinds(&g), [ExceptionKind::AmountOffStandard]);
        let g = NewGrant { program: "泛海助学金".into(), ..grant() };
        assert_eq!(kinds(&g), [ExceptionKind::AmountOffStandard]);
        let spring = NewGrant {
            stage: Stage::Primary,
            program: "寄宿生生活补助".into(),
            period: "2027春".into(),
            amount: Fen(55_000),
            ..grant()
        };
        assert!(kinds(&spring).is_empty());
        assert_eq!(kinds(&NewGrant { amount: Fen(50_000), ..spring }), [ExceptionKind::AmountOffStandard]);
    }

    #[test]
    fn priority_students_get_the_top_tier() {
        let g = NewGrant { priority: vec![Priority::RegisteredPoor], ..grant() };
        assert_eq!(kinds(&g), [ExceptionKind::PriorityNotTopTier]);
        let g = NewGrant { priority: vec![Priority::Disabled], tier: Tier::EspeciallyHard, amount: Fen(125_000), ..grant() };
        assert!(kinds(&g).is_empty());
        // A program paid the same at every tier has no higher standard to give.
        let g = NewGrant {
            priority: vec![Priority::RegisteredPoor],
            stage: Stage::Primary,
            program: "寄宿生生活补助".into(),
            amount: Fen(50_000),
            ..grant()
        };
        assert!(kinds(&g).is_empty());
    }

    #[test]
    fn guardian_stages_are_configurable() {
        let mut r = rules();
        r.guardian_card_stages = HashSet::new();
        let g = NewGrant {
            card_holder: "王芳".into(),
            stage: Stage::Primary,
            program: "寄宿生生活补助".into(),
            amount: Fen(50_000),
            ..grant()
        };
        assert_eq!(check(&g, &r).into_iter().map(|v| v.kind).collect::<Vec<_>>(), [ExceptionKind::HolderMismatch]);
    }
}
