//! The states money and decisions move through, as types: a grant, a payment attempt, a batch, a
//! four-eyes approval, and the roles of the people who act. The store maps them to text at its
//! edge ([`as_str`](PaymentStatus::as_str) / `parse`); everything else matches on the enums, so a
//! misspelt state does not compile.
//!
//! A payment attempt:
//!
//! ```text
//! created ─hand-over→ sent ─ACCP/ACSP→ accepted ─ACSC→ settled ─RJCT (退票)→ returned
//!    │                  └──────────────── RJCT ────────────────→ rejected
//!    └─ batch rejected by a reviewer → cancelled
//! ```
//!
//! While an attempt is *live* (created, sent, accepted, settled) it may still pay its grant, so the
//! grant can have no second one — the database's unique index on `live` says so too, and
//! [`PaymentStatus::LIVE`] is tested against the schema's CHECK.

use serde::Serialize;

/// A state stored as text: what the store's edge needs to read and write any of them alike.
pub trait StateText: Sized + Copy {
    /// The type's name, for the message when a stored text names no state.
    const WHAT: &'static str;
    fn as_text(self) -> &'static str;
    fn from_text(text: &str) -> Option<Self>;
}

/// Generates `as_str`, `parse`, `ALL`, `Display`, `Serialize` (as the text) and [`StateText`] for
/// a state enum.
macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every state, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored and printed (`--json`).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The state a stored text names, if any.
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl StateText for $name {
            const WHAT: &'static str = stringify!($name);
            fn as_text(self) -> &'static str {
                self.as_str()
            }
            fn from_text(text: &str) -> Option<$name> {
                $name::parse(text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// A grant's status as stored. Its *owner state* ([`crate::verify::OwnerState`]) also looks at
    /// its payments and exceptions.
    GrantStatus {
        /// May be paid (once its notice has ended), or is being paid.
        Valid => "valid",
        /// Waits for a person: it has an open exception.
        Held => "held",
        /// Settled and its batch debit matched on the special account.
        Paid => "paid",
        Cancelled => "cancelled",
    }
}

text_enum! {
    /// One attempt to pay a grant.
    PaymentStatus {
        Created => "created",
        Sent => "sent",
        Accepted => "accepted",
        Settled => "settled",
        Rejected => "rejected",
        Returned => "returned",
        /// Never handed over: its batch was rejected by a reviewer.
        Cancelled => "cancelled",
    }
}

impl PaymentStatus {
    /// The states in which an attempt may still pay its grant.
    pub const LIVE: [PaymentStatus; 4] = [PaymentStatus::Created, PaymentStatus::Sent, PaymentStatus::Accepted, PaymentStatus::Settled];

    pub fn is_live(self) -> bool {
        PaymentStatus::LIVE.contains(&self)
    }

    /// A failed attempt whose grant needs a person: the bank refused or returned it.
    pub fn is_failed(self) -> bool {
        matches!(self, PaymentStatus::Rejected | PaymentStatus::Returned)
    }

    /// The moves an attempt may make; anything else is refused.
    pub fn can_move_to(self, next: PaymentStatus) -> bool {
        use PaymentStatus::*;
        matches!(
            (self, next),
            (Created, Sent | Cancelled | Settled | Rejected | Accepted)
                | (Sent, Accepted | Settled | Rejected)
                | (Accepted, Settled | Rejected)
                | (Settled, Returned)
        )
    }
}

/// What a bank's status code says happened to a payment (ISO 20022 codes by meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BankVerdict {
    Settled,
    Accepted,
    Rejected,
    /// Received, pending, or a code we do not know: kept in the history, changes nothing.
    Pending,
}

impl BankVerdict {
    pub fn of_code(status: &str) -> BankVerdict {
        match status {
            "ACSC" | "ACCC" => BankVerdict::Settled,
            "ACSP" | "ACCP" | "ACWC" | "ACWP" | "ACFC" | "ACIS" => BankVerdict::Accepted,
            "RJCT" | "CANC" | "BLCK" => BankVerdict::Rejected,
            _ => BankVerdict::Pending,
        }
    }
}

/// What one bank answer does to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerMove {
    /// The attempt moves to this state.
    To(PaymentStatus),
    /// A final status seen again: no second effect. `same` when it repeats the state the
    /// attempt is in; otherwise it contradicts it.
    Repeat { same: bool },
    /// Nothing to do (a pending code, or an acceptance after the fact).
    Nothing,
}

impl PaymentStatus {
    /// The attempt's move on a bank answer — the state machine above, in one place:
    /// a rejection after settlement is a return (退票); a final status repeated is a repeat.
    pub fn on_answer(self, verdict: BankVerdict) -> AnswerMove {
        use PaymentStatus::*;
        match (verdict, self) {
            (BankVerdict::Settled, Created | Sent | Accepted) => AnswerMove::To(Settled),
            (BankVerdict::Rejected, Created | Sent | Accepted) => AnswerMove::To(Rejected),
            (BankVerdict::Rejected, Settled) => AnswerMove::To(Returned),
            (BankVerdict::Accepted, Created | Sent) => AnswerMove::To(Accepted),
            (BankVerdict::Settled, Settled | Rejected | Returned) => AnswerMove::Repeat { same: self == Settled },
            (BankVerdict::Rejected, Rejected | Returned) => AnswerMove::Repeat { same: true },
            _ => AnswerMove::Nothing,
        }
    }
}

text_enum! {
    /// A batch: one file to one bank.
    BatchStatus {
        /// Four eyes: made, waiting for a reviewer before anything is written.
        AwaitingApproval => "awaiting_approval",
        /// More than the known balance can cover: waits for money to come in.
        Held => "held",
        /// To be written.
        Created => "created",
        /// In the outbox, its hash recorded; to be handed over.
        Written => "written",
        /// The hand-over's intent is recorded: it may have reached the bank.
        Delivering => "delivering",
        /// Undecidable whether the bank has it: a person checks with the bank.
        InDoubt => "in_doubt",
        Delivered => "delivered",
        /// Its debit is matched on the special account's statement.
        Debited => "debited",
        Closed => "closed",
        /// A reviewer rejected it: its payments are cancelled, nothing reached the bank.
        Rejected => "rejected",
    }
}

impl BatchStatus {
    /// Batches whose money may leave (or has left) the account but is not yet seen debited.
    pub const COMMITTED: [BatchStatus; 4] = [BatchStatus::Written, BatchStatus::Delivering, BatchStatus::InDoubt, BatchStatus::Delivered];
}

text_enum! {
    /// An exception on the work list.
    ExceptionStatus {
        /// Waits for a person.
        Open => "open",
        /// Someone resolved it (who, how and when are stored beside it).
        Resolved => "resolved",
    }
}

text_enum! {
    /// How an exception was resolved.
    Resolution {
        /// Paid again, to a corrected card or holder when given.
        Reissue => "reissue",
        Cancel => "cancel",
        /// Explained: closed as it is.
        Accept => "accept",
        /// The school re-sent corrected data, which replaced the grant.
        Superseded => "superseded",
    }
}

impl LabelZh for Resolution {
    fn label_zh(self) -> &'static str {
        match self {
            Resolution::Reissue => "更正后重新发放",
            Resolution::Cancel => "取消发放",
            Resolution::Accept => "接受说明",
            Resolution::Superseded => "学校已重新报送更正",
        }
    }
}

impl ExceptionStatus {
    /// A work-list filter as typed (`--status`, `?status=`): `open`, `resolved`, or `all`
    /// (`Ok(None)`); anything else is `Err`.
    pub fn filter(text: &str) -> Result<Option<ExceptionStatus>, ()> {
        match text {
            "all" => Ok(None),
            other => ExceptionStatus::parse(other).map(Some).ok_or(()),
        }
    }
}

text_enum! {
    /// A file aidpay received or wrote, as recorded in `files`.
    FileStatus {
        /// Read and applied, every entry.
        Applied => "applied",
        /// Refused whole and kept aside with its reason.
        Quarantined => "quarantined",
        /// A batch file aidpay wrote.
        Written => "written",
        Delivered => "delivered",
    }
}

text_enum! {
    /// What ingesting one bank file did (`ingest --json`, `outcome`).
    FileOutcome {
        /// Read and applied, every entry.
        Applied => "applied",
        /// The same content was applied before: nothing done.
        Duplicate => "duplicate",
        /// Refused whole, kept in the quarantine folder with its reason.
        Quarantined => "quarantined",
        /// Another process works on it now.
        Skipped => "skipped",
        /// Could not be read (still being written, gone, unreadable): left for the next run.
        Error => "error",
    }
}

impl LabelZh for FileOutcome {
    fn label_zh(self) -> &'static str {
        match self {
            FileOutcome::Applied => "已处理",
            FileOutcome::Duplicate => "已处理过",
            FileOutcome::Quarantined => "已隔离",
            FileOutcome::Skipped => "另一进程处理中",
            FileOutcome::Error => "无法读取",
        }
    }
}

impl Default for FileOutcome {
    fn default() -> FileOutcome {
        FileOutcome::Error
    }
}

text_enum! {
    /// How a run of a daemon job (or an alert) ended, as `job_runs` records it.
    RunOutcome {
        Running => "running",
        Ok => "ok",
        /// Failed; retried on the job's schedule.
        Error => "error",
        /// The daemon stopped before the run ended.
        Interrupted => "interrupted",
    }
}

impl LabelZh for RunOutcome {
    fn label_zh(self) -> &'static str {
        match self {
            RunOutcome::Running => "运行中",
            RunOutcome::Ok => "成功",
            RunOutcome::Error => "失败",
            RunOutcome::Interrupted => "已中断",
        }
    }
}

text_enum! {
    /// A dedicated aid card as the bank last reported it.
    CardStatus {
        Active => "active",
        /// The account is closed (AC04): a new card is needed, not a corrected name.
        Closed => "closed",
        Frozen => "frozen",
    }
}

text_enum! {
    /// A four-eyes proposal (双人复核).
    ApprovalStatus {
        Pending => "pending",
        /// Approved by a second person, and what it proposed was applied.
        Approved => "approved",
        Rejected => "rejected",
        /// Overtaken before a decision (e.g. its exception was resolved another way).
        Withdrawn => "withdrawn",
    }
}

text_enum! {
    /// What a proposal is about (INTERFACES.md, the console API's `kind`).
    ApprovalKind {
        /// A batch before it reaches the bank.
        Batch => "batch",
        /// Paying again, or handing a batch over again, after a person checked.
        Reissue => "reissue",
        Cancel => "cancel",
        Accept => "accept",
        /// A re-issue to another card or holder, or a school's re-send that changes a card.
        CardChange => "card_change",
    }
}

text_enum! {
    /// Who may do what (内控: 经办、复核、审批).
    Role {
        /// 经办: works the exception list and proposes.
        Clerk => "clerk",
        /// 复核: approves or rejects what someone else proposed (and may propose, for another reviewer).
        Reviewer => "reviewer",
        /// 审计: reads everything, the audit trail included; changes nothing.
        Auditor => "auditor",
        /// 管理员: manages users; makes no money decision.
        Admin => "admin",
    }
}

/// Names of the states as finance staff read them (the console, reports); the machine names stay
/// in `--json` and the store.
pub trait LabelZh {
    fn label_zh(self) -> &'static str;
}

impl LabelZh for GrantStatus {
    fn label_zh(self) -> &'static str {
        match self {
            GrantStatus::Valid => "待发放",
            GrantStatus::Held => "挂起待处理",
            GrantStatus::Paid => "已发放",
            GrantStatus::Cancelled => "已取消",
        }
    }
}

impl LabelZh for PaymentStatus {
    fn label_zh(self) -> &'static str {
        match self {
            PaymentStatus::Created => "已生成",
            PaymentStatus::Sent => "已交银行",
            PaymentStatus::Accepted => "银行已受理",
            PaymentStatus::Settled => "发放成功",
            PaymentStatus::Rejected => "发放失败",
            PaymentStatus::Returned => "退票",
            PaymentStatus::Cancelled => "已作废",
        }
    }
}

impl LabelZh for BatchStatus {
    fn label_zh(self) -> &'static str {
        match self {
            BatchStatus::AwaitingApproval => "待复核",
            BatchStatus::Held => "余额不足暂缓",
            BatchStatus::Created => "已批准待生成",
            BatchStatus::Written => "文件已生成",
            BatchStatus::Delivering => "正在交付银行",
            BatchStatus::InDoubt => "交付待核实",
            BatchStatus::Delivered => "已交付银行",
            BatchStatus::Debited => "已扣款",
            BatchStatus::Closed => "已结清",
            BatchStatus::Rejected => "已驳回",
        }
    }
}

impl LabelZh for ExceptionStatus {
    fn label_zh(self) -> &'static str {
        match self {
            ExceptionStatus::Open => "待处理",
            ExceptionStatus::Resolved => "已处理",
        }
    }
}

impl LabelZh for ApprovalStatus {
    fn label_zh(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "待复核",
            ApprovalStatus::Approved => "已批准",
            ApprovalStatus::Rejected => "已驳回",
            ApprovalStatus::Withdrawn => "已撤回",
        }
    }
}

impl LabelZh for ApprovalKind {
    fn label_zh(self) -> &'static str {
        match self {
            ApprovalKind::Batch => "批次发放",
            ApprovalKind::Reissue => "重新发放",
            ApprovalKind::Cancel => "撤销资助",
            ApprovalKind::Accept => "确认无误",
            ApprovalKind::CardChange => "变更收款卡",
        }
    }
}

impl LabelZh for Role {
    fn label_zh(self) -> &'static str {
        Role::label_zh(self)
    }
}

impl Role {
    /// The role's name as finance staff say it.
    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Clerk => "经办",
            Role::Reviewer => "复核",
            Role::Auditor => "审计",
            Role::Admin => "管理员",
        }
    }

    /// May act on the work list (resolve, or propose a resolution). A reviewer may too — and then
    /// needs another reviewer to approve it.
    pub fn may_resolve(self) -> bool {
        matches!(self, Role::Clerk | Role::Reviewer)
    }

    /// May approve or reject someone else's proposal.
    pub fn may_decide(self) -> bool {
        self == Role::Reviewer
    }

    /// May manage users.
    pub fn may_manage_users(self) -> bool {
        self == Role::Admin
    }

    /// May read the audit trail.
    pub fn may_read_audit(self) -> bool {
        matches!(self, Role::Auditor | Role::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_move_is_an_allowed_move() {
        for from in PaymentStatus::ALL {
            for v in [BankVerdict::Settled, BankVerdict::Accepted, BankVerdict::Rejected, BankVerdict::Pending] {
                if let AnswerMove::To(next) = from.on_answer(v) {
                    assert!(from.can_move_to(next), "{from} → {next}");
                }
            }
        }
        assert_eq!(PaymentStatus::Settled.on_answer(BankVerdict::Rejected), AnswerMove::To(PaymentStatus::Returned));
        assert_eq!(PaymentStatus::Settled.on_answer(BankVerdict::Settled), AnswerMove::Repeat { same: true });
        assert_eq!(PaymentStatus::Returned.on_answer(BankVerdict::Settled), AnswerMove::Repeat { same: false });
        assert_eq!(PaymentStatus::Cancelled.on_answer(BankVerdict::Settled), AnswerMove::Nothing);
    }

    #[test]
    fn every_state_round_trips_its_text() {
        for s in GrantStatus::ALL {
            assert_eq!(GrantStatus::parse(s.as_str()), Some(*s));
        }
        for s in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(s.as_str()), Some(*s));
        }
        for s in BatchStatus::ALL {
            assert_eq!(BatchStatus::parse(s.as_str()), Some(*s));
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(*r));
        }
        assert_eq!(PaymentStatus::parse("setled"), None);
    }

    /// The schema's CHECK ties `live` to a list of statuses: it must be exactly the Rust set.
    #[test]
    fn the_schemas_live_states_are_the_rust_live_states() {
        for file in ["0001_schema.sql", "0002_grants_per_account.sql"] {
            let sql = std::fs::read_to_string(format!("{}/src/store/migrations/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let check = sql.split("COALESCE(live, 0) = 1 AND status IN (").nth(1).unwrap().split(')').next().unwrap();
            let schema: Vec<&str> = check.split(',').map(|s| s.trim().trim_matches('\'')).collect();
            let rust: Vec<&str> = PaymentStatus::LIVE.iter().map(|s| s.as_str()).collect();
            assert_eq!(schema, rust, "{file}");
        }
    }

    #[test]
    fn a_live_attempt_dies_only_by_the_bank_or_a_reviewer() {
        use PaymentStatus::*;
        assert!(Created.can_move_to(Sent) && Sent.can_move_to(Settled) && Settled.can_move_to(Returned));
        assert!(Created.can_move_to(Cancelled), "a rejected batch cancels its payments");
        assert!(!Sent.can_move_to(Cancelled), "a payment at the bank cannot be cancelled here");
        assert!(!Rejected.can_move_to(Sent) && !Returned.can_move_to(Settled) && !Cancelled.can_move_to(Created));
        for s in PaymentStatus::ALL {
            assert_eq!(s.is_live(), !matches!(s, Rejected | Returned | Cancelled));
        }
    }
}
