//! The exception vocabulary: every kind of INTERFACES.md ("Exceptions"), its severity, the Chinese
//! wording of the problem and the suggested action, and an exception about to be raised with its
//! dedup key derived from the kind. The store, validation, the batch cycle and the console all speak
//! it; the work list and the resolve workflow live in [`crate::exceptions`].

use serde::Serialize;
use std::fmt;

/// Every kind of exception aidpay raises (INTERFACES.md, "Exceptions").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExceptionKind {
    InvalidIdNumber,
    InvalidCard,
    HolderMismatch,
    AmountOffStandard,
    PriorityNotTopTier,
    DuplicateGrant,
    ImportConflict,
    InsufficientBalance,
    UnencodableName,
    CardShared,
    /// A school's re-send changed a grant's card or holder: held until a second person agrees.
    CardChanged,
    RowsRejected,
    DeliveryUncertain,
    BatchRejected,
    FileRejected,
    BankRejected,
    BankReturned,
    UnknownReference,
    DuplicateStatus,
    AmountMismatch,
    AccountMismatch,
    NoAnswer,
    UnknownDebit,
    BatchDebitMismatch,
    UnmatchedReturnCredit,
    ReturnNotCredited,
    BalanceBreak,
}

/// How urgent an exception is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl ExceptionKind {
    pub const ALL: [ExceptionKind; 27] = [
        ExceptionKind::InvalidIdNumber,
        ExceptionKind::InvalidCard,
        ExceptionKind::HolderMismatch,
        ExceptionKind::AmountOffStandard,
        ExceptionKind::PriorityNotTopTier,
        ExceptionKind::DuplicateGrant,
        ExceptionKind::ImportConflict,
        ExceptionKind::InsufficientBalance,
        ExceptionKind::UnencodableName,
        ExceptionKind::CardShared,
        ExceptionKind::CardChanged,
        ExceptionKind::RowsRejected,
        ExceptionKind::DeliveryUncertain,
        ExceptionKind::BatchRejected,
        ExceptionKind::FileRejected,
        ExceptionKind::BankRejected,
        ExceptionKind::BankReturned,
        ExceptionKind::UnknownReference,
        ExceptionKind::DuplicateStatus,
        ExceptionKind::AmountMismatch,
        ExceptionKind::AccountMismatch,
        ExceptionKind::NoAnswer,
        ExceptionKind::UnknownDebit,
        ExceptionKind::BatchDebitMismatch,
        ExceptionKind::UnmatchedReturnCredit,
        ExceptionKind::ReturnNotCredited,
        ExceptionKind::BalanceBreak,
    ];

    /// The name in INTERFACES.md, as stored and printed with `--json`.
    pub fn as_str(self) -> &'static str {
        use ExceptionKind::*;
        match self {
            InvalidIdNumber => "invalid_id_number",
            InvalidCard => "invalid_card",
            HolderMismatch => "holder_mismatch",
            AmountOffStandard => "amount_off_standard",
            PriorityNotTopTier => "priority_not_top_tier",
            DuplicateGrant => "duplicate_grant",
            ImportConflict => "import_conflict",
            InsufficientBalance => "insufficient_balance",
            UnencodableName => "unencodable_name",
            CardShared => "card_shared",
            CardChanged => "card_changed",
            RowsRejected => "rows_rejected",
            DeliveryUncertain => "delivery_uncertain",
            BatchRejected => "batch_rejected",
            FileRejected => "file_rejected",
            BankRejected => "bank_rejected",
            BankReturned => "bank_returned",
            UnknownReference => "unknown_reference",
            DuplicateStatus => "duplicate_status",
            AmountMismatch => "amount_mismatch",
            AccountMismatch => "account_mismatch",
            NoAnswer => "no_answer",
            UnknownDebit => "unknown_debit",
            BatchDebitMismatch => "batch_debit_mismatch",
            UnmatchedReturnCredit => "unmatched_return_credit",
            ReturnNotCredited => "return_not_credited",
            BalanceBreak => "balance_break",
        }
    }

    pub fn parse(s: &str) -> Option<ExceptionKind> {
        ExceptionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Money that may have gone astray is high; a grant that cannot be paid is medium; a
    /// repeated message with no effect is low.
    pub fn severity(self) -> Severity {
        use ExceptionKind::*;
        match self {
            UnknownDebit | BatchDebitMismatch | BalanceBreak | AmountMismatch | AccountMismatch | ReturnNotCredited | DeliveryUncertain
            | CardShared | CardChanged | FileRejected => Severity::High,
            DuplicateStatus => Severity::Low,
            _ => Severity::Medium,
        }
    }

    /// Found at intake about the grant itself (its card, holder, ID number, amount or tier, or a
    /// card change to confirm): corrected data answers it, and it holds the grant.
    pub fn is_about_the_grant(self) -> bool {
        use ExceptionKind::*;
        matches!(
            self,
            InvalidCard | HolderMismatch | UnencodableName | InvalidIdNumber | AmountOffStandard | PriorityNotTopTier | CardShared | CardChanged
        )
    }

    /// A finding that holds its grant: the grant is paid only once none is open. A re-issue or a
    /// release waits for all of them; findings about a bank's answer (amount or account
    /// mismatches) do not hold it.
    pub fn holds_grant(self) -> bool {
        use ExceptionKind::*;
        self.is_about_the_grant() || matches!(self, DuplicateGrant | BankRejected | BankReturned)
    }

    /// Every kind that [holds](ExceptionKind::holds_grant) its grant.
    pub fn holding() -> Vec<ExceptionKind> {
        ExceptionKind::ALL.into_iter().filter(|k| k.holds_grant()).collect()
    }

    /// 问题: the problem in the words finance staff use.
    pub fn label_zh(self) -> &'static str {
        use ExceptionKind::*;
        match self {
            InvalidIdNumber => "身份证号无效",
            InvalidCard => "卡号无效",
            HolderMismatch => "持卡人与学生不一致",
            AmountOffStandard => "金额不符合资助标准",
            PriorityNotTopTier => "重点保障学生未按最高档资助",
            DuplicateGrant => "重复资助",
            ImportConflict => "导入数据与已有记录冲突",
            InsufficientBalance => "专户余额不足",
            UnencodableName => "姓名含银行无法处理的字符",
            CardShared => "同一卡号用于不同的人",
            CardChanged => "重新报送变更了收款卡",
            RowsRejected => "名单中有无法读取的行",
            DeliveryUncertain => "批次是否已交银行无法确定",
            BatchRejected => "批次被复核驳回",
            FileRejected => "银行拒收整个文件",
            BankRejected => "银行拒绝",
            BankReturned => "银行退票",
            UnknownReference => "未知的支付流水号",
            DuplicateStatus => "重复回执",
            AmountMismatch => "金额与发送不符",
            AccountMismatch => "账号与发送不符",
            NoAnswer => "银行未回执",
            UnknownDebit => "专户出现不明支出",
            BatchDebitMismatch => "批次扣款金额不符",
            UnmatchedReturnCredit => "退回款项无法匹配",
            ReturnNotCredited => "失败款项未退回专户",
            BalanceBreak => "对账单余额不连续",
        }
    }

    /// 建议处理: what finance staff should do about it.
    pub fn suggestion_zh(self) -> &'static str {
        use ExceptionKind::*;
        match self {
            InvalidIdNumber => "请学校核对身份证号后重新报送",
            InvalidCard => "请核对卡号；更正后重新发放",
            HolderMismatch => "该学段须为学生本人卡，请更换为学生本人的资助卡",
            AmountOffStandard => "请核对资助项目、学段、档次与金额",
            PriorityNotTopTier => "重点保障对象应按最高档次资助，请学校更正档次",
            DuplicateGrant => "同一学生同一项目同一学期已有资助，请核实后取消重复项",
            ImportConflict => "已有记录未被覆盖；如确需更改，请先取消原资助",
            InsufficientBalance => "请联系财政拨付资金后再发放",
            UnencodableName => "请与银行核对户名写法（生僻字）",
            CardShared => "一张资助卡只属于一个人（学前、小学、初中兄弟姐妹共用监护人卡除外）：请核实持卡人，更正卡号后重新发放",
            RowsRejected => "请学校按所列行号更正后重新报送",
            DeliveryUncertain => "请与银行核实是否已收到该批次文件：已收到则“接受”，确认未收到则“重新发放”；切勿自行重复发送",
            CardChanged => "向学校核实新卡号和持卡人属实后确认（须另一位复核人批准）；不属实则撤销，请学校更正",
            BatchRejected => "按复核意见处理（如取消有误的资助）；其余资助随下一批次重新提交复核",
            FileRejected => "银行无法读取我方文件且未说明是哪一批：立即与银行核对所列批次是否入账，确认未付款前不要重新发送",
            BankRejected => "按原因更正卡号或户名后重新发放",
            BankReturned => "确认退款到账后，更正后重新发放",
            UnknownReference => "请与银行核对该笔回执",
            DuplicateStatus => "无需处理，仅供核对",
            AmountMismatch | AccountMismatch => "立即与银行核对该笔支付",
            NoAnswer => "请向银行查询该笔支付状态",
            UnknownDebit => "立即核查该笔支出（专款专用）",
            BatchDebitMismatch => "请与银行核对批次扣款明细",
            UnmatchedReturnCredit => "请与银行核对该笔退款来源",
            ReturnNotCredited => "请向银行追索退款",
            BalanceBreak => "请向银行索取完整对账单",
        }
    }
}

impl Serialize for ExceptionKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl super::StateText for ExceptionKind {
    const WHAT: &'static str = "ExceptionKind";
    fn as_text(self) -> &'static str {
        self.as_str()
    }
    fn from_text(text: &str) -> Option<ExceptionKind> {
        ExceptionKind::parse(text)
    }
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Low, Severity::Medium, Severity::High].into_iter().find(|v| v.as_str() == s)
    }

    /// 严重程度, as finance staff read it.
    pub fn label_zh(self) -> &'static str {
        match self {
            Severity::Low => "低",
            Severity::Medium => "中",
            Severity::High => "高",
        }
    }
}

impl super::LabelZh for ExceptionKind {
    fn label_zh(self) -> &'static str {
        ExceptionKind::label_zh(self)
    }
}

impl super::LabelZh for Severity {
    fn label_zh(self) -> &'static str {
        Severity::label_zh(self)
    }
}

impl super::StateText for Severity {
    const WHAT: &'static str = "Severity";
    fn as_text(self) -> &'static str {
        self.as_str()
    }
    fn from_text(text: &str) -> Option<Severity> {
        Severity::parse(text)
    }
}

impl fmt::Display for ExceptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An exception about to be raised. `dedup_key` makes raising idempotent: the same key twice
/// (the same file imported again, say) is one exception. Make one with [`NewException::new`], which
/// derives the key from the kind and what the exception is about, so two kinds never share a key.
#[derive(Debug, Clone)]
pub struct NewException {
    pub kind: ExceptionKind,
    pub grant_id: Option<String>,
    pub payment_ref: Option<String>,
    pub reason_code: Option<String>,
    pub amount_fen: Option<i64>,
    /// Human text; card and ID numbers in it are masked.
    pub detail: String,
    pub dedup_key: String,
}

impl NewException {
    /// An exception of `kind` about `subject` (a grant ID, a payment reference, a batch, a file's
    /// hash, …), keyed `kind:subject`: raising it again for the same subject is the same exception.
    pub fn new(kind: ExceptionKind, subject: impl fmt::Display, detail: String) -> NewException {
        NewException {
            kind,
            grant_id: None,
            payment_ref: None,
            reason_code: None,
            amount_fen: None,
            detail,
            dedup_key: format!("{}:{subject}", kind.as_str()),
        }
    }

    /// The grant it concerns.
    pub fn grant(mut self, grant_id: impl Into<String>) -> NewException {
        self.grant_id = Some(grant_id.into());
        self
    }

    /// The payment it concerns, by end-to-end reference.
    pub fn payment(mut self, payment_ref: Option<String>) -> NewException {
        self.payment_ref = payment_ref;
        self
    }

    /// The bank's reason code (ISO 20022 or a domestic code).
    pub fn reason(mut self, code: Option<String>) -> NewException {
        self.reason_code = code;
        self
    }

    /// The amount at stake, in fen.
    pub fn amount(mut self, fen: Option<i64>) -> NewException {
        self.amount_fen = fen;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_about_the_grant_hold_it_and_bank_mismatches_do_not() {
        use ExceptionKind::*;
        let mut holding = ExceptionKind::holding();
        holding.sort();
        let mut expected = vec![
            InvalidCard,
            CardChanged,
            HolderMismatch,
            UnencodableName,
            InvalidIdNumber,
            AmountOffStandard,
            PriorityNotTopTier,
            CardShared,
            DuplicateGrant,
            BankRejected,
            BankReturned,
        ];
        expected.sort();
        assert_eq!(holding, expected);
        assert!(!AmountMismatch.holds_grant() && !AccountMismatch.holds_grant() && !NoAnswer.holds_grant());
        assert!(CardChanged.is_about_the_grant() && !DuplicateGrant.is_about_the_grant());
    }

    #[test]
    fn the_dedup_key_starts_with_the_kind() {
        let e = NewException::new(ExceptionKind::NoAnswer, "P-1", String::new()).amount(Some(5));
        assert_eq!(e.dedup_key, "no_answer:P-1");
        assert_eq!(e.amount_fen, Some(5));
    }

    #[test]
    fn every_kind_round_trips_its_name() {
        for k in ExceptionKind::ALL {
            assert_eq!(ExceptionKind::parse(k.as_str()), Some(k));
            assert!(!k.label_zh().is_empty() && !k.suggestion_zh().is_empty());
        }
    }
}
