//! What happens to each payment at the simulated bank: its [`Fate`], decided by an
//! [`AnswerMix`].
//!
//! A real bank executes a batch payment by payment. Most settle (ACSC: the card is credited).
//! Some are refused on the spot — wrong card number (AC01), closed card (AC04), frozen card
//! (AC06), the name not matching the card holder (BE01), not enough money on the special account
//! (AM04) — and come back in the first status report or result file as RJCT with a reason. A few
//! go wrong *later*: the bank first reports ACSC, and days afterwards the receiving bank sends
//! the money back (a late 退票, [`Fate::LateReturn`]): a second report says RJCT, and the money
//! shows up again as a return credit on the account statement. And banks' answers have their own
//! defects, which aidpay must notice rather than trust: the same final status twice
//! ([`Fate::DuplicateStatus`]), an amount in the report that is not what was sent
//! ([`Fate::ChangedAmount`]), or a status for a reference that was never sent
//! ([`AnswerMix::unknown_references`]).
//!
//! [`decide`] is deterministic: explicit fates by reference win, then fates by card (a card that
//! is closed at the bank fails in every batch it appears in), then the seeded random mix, then
//! [`Fate::Settle`]. The random part draws from a `StdRng` seeded with the mix's seed and the
//! batch id, and draws for *every* payment in file order — also for one an override decides — so
//! adding an override never changes the fate of another payment.

use super::batch_reader::{SimBatch, SimPayment};
use crate::domain::Fen;
use crate::domain::reason::describe_zh;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

/// Why a payment failed: the ISO 20022 status reason code and the Chinese text a bank writes
/// for it (in `StsRsnInf/AddtlInf` and in domestic result files). The predefined texts are the
/// ones [`ReasonTable`](crate::domain::reason::ReasonTable) maps back to the same code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reason {
    pub code: String,
    pub text: String,
}

impl Reason {
    /// A reason with a code and text of one's own (e.g. `("NARR", "系统繁忙")`).
    pub fn new(code: impl Into<String>, text: impl Into<String>) -> Self {
        Reason { code: code.into(), text: text.into() }
    }

    /// The reason for an ISO code with the wording Chinese banks use for it: AC01 账号不存在,
    /// AC04 账户已销户, AC06 账户冻结, BE01 户名不符, AM04 余额不足, AG01 交易不允许, AM05 重复业务,
    /// MS03 其他; any other code gets [`describe_zh`].
    pub fn iso(code: &str) -> Self {
        let text = match code {
            "AC01" => "账号不存在",
            "AC04" => "账户已销户",
            "AC06" => "账户冻结",
            "BE01" => "户名不符",
            "AM04" => "余额不足",
            "AG01" => "交易不允许",
            "AM05" => "重复业务",
            "MS03" => "其他",
            other => describe_zh(other),
        };
        Reason::new(code, text)
    }

    /// AC01, 账号不存在: no such account.
    pub fn wrong_account() -> Self {
        Reason::iso("AC01")
    }
    /// AC04, 账户已销户: the card was closed.
    pub fn closed() -> Self {
        Reason::iso("AC04")
    }
    /// AC06, 账户冻结: the card is frozen.
    pub fn frozen() -> Self {
        Reason::iso("AC06")
    }
    /// AC06 with the other wording banks use, 卡状态异常 (card status abnormal).
    pub fn card_abnormal() -> Self {
        Reason::new("AC06", "卡状态异常")
    }
    /// BE01, 户名不符: the name does not match the card holder.
    pub fn name_mismatch() -> Self {
        Reason::iso("BE01")
    }
    /// AM04, 余额不足: not enough money on the special account.
    pub fn insufficient_funds() -> Self {
        Reason::iso("AM04")
    }

    /// The reasons a random mix draws from when it names none.
    pub fn common() -> Vec<Reason> {
        vec![
            Reason::name_mismatch(),
            Reason::wrong_account(),
            Reason::closed(),
            Reason::frozen(),
            Reason::card_abnormal(),
        ]
    }

    /// A numeric return code in the UnionPay style some banks put beside the text (ICBC's
    /// `iRetCode`): 3031 户名不符, 3009 无此账户, 3039 已关户, 3017 冻结, 3008 余额不足 …; 3999
    /// for anything else.
    pub fn bank_code(&self) -> &'static str {
        match self.code.as_str() {
            "BE01" => "3031",
            "AC01" => "3009",
            "AC04" => "3039",
            "AC06" => "3017",
            "AM04" => "3008",
            "AM05" => "3051",
            "AG01" => "3057",
            _ => "3999",
        }
    }
}

/// What the bank does with one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Paid: ACSC / the profile's success value.
    Settle,
    /// Refused at once: RJCT with the reason. Under gross booking its money comes back as a
    /// return credit on the same statement; under net booking it is never debited.
    Reject(Reason),
    /// Settled first (ACSC in the first answer, included in the batch debit), returned later: a
    /// second answer with RJCT and the reason, and a return credit (退票) in a later statement.
    LateReturn(Reason),
    /// Settled, and the same final status is reported twice in the answer.
    DuplicateStatus,
    /// Settled, but the answer reports this amount (`OrgnlTxRef/Amt/InstdAmt`, the result file's
    /// amount column) instead of the amount sent. The statement still books the amount sent.
    ChangedAmount(Fen),
}

impl Fate {
    /// Did the payment leave the account in the first place (everything but [`Fate::Reject`])?
    pub fn settled_first(&self) -> bool {
        !matches!(self, Fate::Reject(_))
    }

    /// The reason of a rejection or late return.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Fate::Reject(r) | Fate::LateReturn(r) => Some(r),
            _ => None,
        }
    }
}

/// The random part of a mix: shares of payments (each 0.0–1.0) given each fate. The shares are
/// taken in this order from one uniform draw per payment, so their sum should stay ≤ 1; what is
/// left settles.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomMix {
    pub seed: u64,
    pub reject: f64,
    pub late_return: f64,
    pub duplicate: f64,
    pub changed_amount: f64,
    /// The reasons rejections and late returns draw from (uniformly); empty means
    /// [`Reason::common`].
    pub reasons: Vec<Reason>,
}

impl RandomMix {
    /// Only rejections, at `rate`, with the common reasons.
    pub fn rejections(seed: u64, rate: f64) -> Self {
        RandomMix { seed, reject: rate, late_return: 0.0, duplicate: 0.0, changed_amount: 0.0, reasons: Vec::new() }
    }
}

/// Which payments fail and how. `Default` settles everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnswerMix {
    /// Fates by end-to-end reference (for a domestic file answered by row number, the row
    /// number as text). These win over everything else.
    pub by_reference: HashMap<String, Fate>,
    /// Fates by card number, e.g. a card closed at the bank: every payment to it gets the fate.
    pub by_card: HashMap<String, Fate>,
    /// A reproducible random mix for the payments no override decides.
    pub random: Option<RandomMix>,
    /// References the bank reports a status for although they were never sent (ACSC, no
    /// amount): aidpay must flag them as unknown.
    pub unknown_references: Vec<String>,
}

impl AnswerMix {
    /// Everything settles.
    pub fn settle_all() -> Self {
        AnswerMix::default()
    }

    /// Gives the payment with this reference `fate`.
    pub fn with_reference(mut self, end_to_end_id: impl Into<String>, fate: Fate) -> Self {
        self.by_reference.insert(end_to_end_id.into(), fate);
        self
    }

    /// Gives every payment to this card `fate`.
    pub fn with_card(mut self, card_number: impl Into<String>, fate: Fate) -> Self {
        self.by_card.insert(card_number.into(), fate);
        self
    }

    pub fn with_random(mut self, random: RandomMix) -> Self {
        self.random = Some(random);
        self
    }

    pub fn with_unknown_reference(mut self, end_to_end_id: impl Into<String>) -> Self {
        self.unknown_references.push(end_to_end_id.into());
        self
    }
}

/// The fate of every payment of `batch`, in file order: exactly one per payment.
pub fn decide(batch: &SimBatch, mix: &AnswerMix) -> Vec<(SimPayment, Fate)> {
    let mut rng = mix.random.as_ref().map(|r| StdRng::seed_from_u64(r.seed ^ fnv1a(batch.batch_id.as_bytes())));
    batch
        .payments
        .iter()
        .map(|p| {
            // Drawn for every payment, so that overrides do not shift the others' draws.
            let drawn = match (&mut rng, &mix.random) {
                (Some(rng), Some(random)) => {
                    let u: f64 = rng.random();
                    let k: u32 = rng.random();
                    random_fate(random, p, u, k)
                }
                _ => None,
            };
            let fate = mix
                .by_reference
                .get(&p.end_to_end_id)
                .or_else(|| mix.by_card.get(&p.card_number))
                .cloned()
                .or(drawn)
                .unwrap_or(Fate::Settle);
            (p.clone(), fate)
        })
        .collect()
}

/// The fate a uniform draw `u` in [0, 1) and a reason draw `k` give.
fn random_fate(random: &RandomMix, p: &SimPayment, u: f64, k: u32) -> Option<Fate> {
    let share = |x: f64| if x.is_finite() { x.clamp(0.0, 1.0) } else { 0.0 };
    let reason = || {
        let reasons = if random.reasons.is_empty() { Reason::common() } else { random.reasons.clone() };
        let i = k as usize % reasons.len();
        reasons.into_iter().nth(i).unwrap_or_else(Reason::wrong_account)
    };
    let mut edge = share(random.reject);
    if u < edge {
        return Some(Fate::Reject(reason()));
    }
    edge += share(random.late_return);
    if u < edge {
        return Some(Fate::LateReturn(reason()));
    }
    edge += share(random.duplicate);
    if u < edge {
        return Some(Fate::DuplicateStatus);
    }
    edge += share(random.changed_amount);
    if u < edge {
        // One yuan more than sent: small, but never equal.
        return Some(Fate::ChangedAmount(Fen(p.amount.0.saturating_add(100))));
    }
    None
}

/// FNV-1a, 64 bits: a hash that is the same on every platform and Rust version (std's hasher
/// promises neither), to mix the batch id into the seed.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::banksim::batch_reader::SimFormat;
    use crate::domain::reason::ReasonTable;

    /// A batch of `n` payments `E0001…`, 100.00 yuan + i fen each, cards `62170000000000000i`.
    pub(crate) fn batch(id: &str, n: usize) -> SimBatch {
        SimBatch {
            batch_id: id.to_string(),
            pmt_inf_id: id.to_string(),
            format: SimFormat::Pain001 { msg_nm_id: "pain.001.001.09".into() },
            execution_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 25),
            debtor_account: Some("6501020100012345678".into()),
            debtor_name: Some("某区学生资助管理中心".into()),
            payments: (1..=n)
                .map(|i| SimPayment {
                    seq: i as u64,
                    end_to_end_id: format!("AP{i:012}"),
                    amount: Fen(10_000 + i as i64),
                    card_number: format!("6217{i:015}"),
                    holder: format!("学生{i}"),
                })
                .collect(),
        }
    }

    #[test]
    fn predefined_reasons_read_back_as_their_code() {
        let table = ReasonTable::new();
        let mut all = Reason::common();
        all.extend(["AM04", "AG01", "AM05", "MS03", "AC01"].map(Reason::iso));
        for r in all {
            assert_eq!(table.code_for(&r.text), r.code, "{}", r.text);
        }
    }

    #[test]
    fn explicit_overrides_win() {
        let b = batch("B1", 5);
        let mix = AnswerMix::settle_all()
            .with_reference("AP000000000002", Fate::Reject(Reason::name_mismatch()))
            .with_card(b.payments[2].card_number.clone(), Fate::Reject(Reason::closed()))
            // The reference wins over the card.
            .with_card(b.payments[1].card_number.clone(), Fate::Settle)
            .with_random(RandomMix {
                seed: 7,
                reject: 1.0,
                late_return: 0.0,
                duplicate: 0.0,
                changed_amount: 0.0,
                reasons: vec![Reason::frozen()],
            });
        let fates = decide(&b, &mix);
        assert_eq!(fates.len(), 5);
        assert_eq!(fates[0].1, Fate::Reject(Reason::frozen()), "random applies where nothing else does");
        assert_eq!(fates[1].1, Fate::Reject(Reason::name_mismatch()));
        assert_eq!(fates[2].1, Fate::Reject(Reason::closed()));
        let plain = decide(&b, &AnswerMix::settle_all().with_reference("AP000000000004", Fate::DuplicateStatus));
        assert_eq!(plain.iter().filter(|(_, f)| *f == Fate::Settle).count(), 4);
        assert_eq!(plain[3].1, Fate::DuplicateStatus);
    }

    #[test]
    fn seeded_mixes_are_reproducible_and_overrides_do_not_shift_them() {
        let b = batch("B20261125000001", 400);
        let random = RandomMix {
            seed: 42,
            reject: 0.2,
            late_return: 0.05,
            duplicate: 0.05,
            changed_amount: 0.05,
            reasons: Vec::new(),
        };
        let mix = AnswerMix::settle_all().with_random(random.clone());
        let a = decide(&b, &mix);
        assert_eq!(a, decide(&b, &mix), "same seed, same fates");
        let rejected = a.iter().filter(|(_, f)| matches!(f, Fate::Reject(_))).count();
        assert!((40..=120).contains(&rejected), "about 20% of 400 rejected, got {rejected}");
        assert!(a.iter().any(|(_, f)| matches!(f, Fate::LateReturn(_))));
        assert!(a.iter().any(|(_, f)| matches!(f, Fate::ChangedAmount(_))));
        for (p, f) in &a {
            if let Fate::ChangedAmount(x) = f {
                assert_ne!(*x, p.amount);
            }
        }
        let other = decide(&b, &AnswerMix::settle_all().with_random(RandomMix { seed: 43, ..random.clone() }));
        assert_ne!(a, other, "another seed, another mix");
        let overridden = decide(&b, &mix.clone().with_reference("AP000000000001", Fate::Settle));
        assert_eq!(a[1..], overridden[1..]);
    }

    #[test]
    fn every_payment_gets_exactly_one_fate() {
        let b = batch("B2", 57);
        let fates = decide(&b, &AnswerMix::settle_all().with_random(RandomMix::rejections(1, 0.5)));
        let refs: Vec<&str> = fates.iter().map(|(p, _)| p.end_to_end_id.as_str()).collect();
        let sent: Vec<&str> = b.payments.iter().map(|p| p.end_to_end_id.as_str()).collect();
        assert_eq!(refs, sent);
        assert!(decide(&batch("B3", 0), &AnswerMix::default()).is_empty());
    }
}
