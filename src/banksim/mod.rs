//! The bank simulator: a stand-in for the bank that the tests and `aidpay demo` talk to, so that
//! no test ever needs a real bank, and every awkward thing a real bank does can be provoked on
//! purpose.
//!
//! Two sides, like a real bank's:
//! - [`http`]: the HTTPS gateway (银企直连), served over plain HTTP on `127.0.0.1:<random port>`.
//!   It checks signatures and timestamps exactly as the client signs them
//!   ([`crate::transport::gateway`] documents the protocol), stores one batch per idempotency key,
//!   and serves result files. Faults can be scheduled: answer with an error without storing
//!   ([`BankSimHandle::fail_next`]), store and then "lose" the answer
//!   ([`BankSimHandle::fail_after_store_next`]), or store and answer too late for the client
//!   ([`BankSimHandle::delay_next`]). These are exactly the cases where a careless client would
//!   pay twice.
//! - [`dropfolder`]: what the bank's front-end machine (前置机) does with a drop folder —
//!   [`pick_up`] every complete file, ignoring temp files.
//!
//! And it answers like a bank, with a configurable mix of failures:
//! - [`batch_reader`] reads what the bank received (pain.001, or a domestic file through its
//!   profile); [`answers`] decides each payment's [`Fate`] from an [`AnswerMix`] (explicit
//!   per reference or per card, plus a seeded random mix);
//! - [`pain002`] writes status reports (and the late RJCT after an ACSC, and group rejections),
//!   [`result_file`] the domestic result files, [`statement`] camt.053 statements and camt.054
//!   notifications, booked gross or net;
//! - [`respond`] ties it together: [`BankSimHandle::answer_all`] offers the answers on the
//!   gateway, [`answer_dropped`] returns them for a drop folder, and
//!   [`BankSimHandle::statement`] builds the statement of what was executed.
//!
//! It is ordinary library code, not `#[cfg(test)]`, because `demo` runs it too.

pub mod answers;
pub mod batch_reader;
pub mod dropfolder;
pub mod http;
pub mod pain002;
pub mod respond;
pub mod result_file;
pub mod statement;
mod xml;

pub use answers::{AnswerMix, Fate, RandomMix, Reason, decide};
pub use batch_reader::{BatchReadError, SimBatch, SimFormat, SimPayment};
pub use dropfolder::{FrontEnd, PickedUp, pick_up};
pub use pain002::Pain002Version;
pub use respond::{AnswerOptions, AnsweredBatch, SimError, answer_dropped, answer_picked};
pub use statement::{
    BankHabits, Booking, Camt053Version, Camt054Version, NotBooked, NotificationSpec, References, SimEntry, StatementOptions, StatementSpec,
};

use crate::domain::Fen;
use secrecy::SecretString;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How to start a simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The HMAC key the simulator expects requests to be signed with. `Debug` prints `[REDACTED]`.
    pub key: SecretString,
}

/// One batch as the bank holds it: one per distinct idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedBatch {
    pub idempotency_key: String,
    /// The id the bank gave it (`SIM00000001`, …), repeated to every duplicate upload.
    pub bank_batch_id: String,
    /// The file name sent with the first upload.
    pub file_name: String,
    /// The bytes of the first upload.
    pub bytes: Vec<u8>,
    /// How many uploads came with this key (1 + the duplicates).
    pub uploads: u32,
}

/// The simulator itself; [`BankSim::start`] runs one and hands back its [`BankSimHandle`].
pub struct BankSim;

impl BankSim {
    /// Binds `127.0.0.1:0` and serves the gateway side on a spawned tokio task until
    /// [`BankSimHandle::shutdown`] (or until the handle is dropped).
    pub async fn start(cfg: SimConfig) -> Result<BankSimHandle, std::io::Error> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { key: cfg.key, state: Mutex::new(State::default()) });
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let app = http::router(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // Resolves on an explicit shutdown *and* when the handle is dropped
                    // (the sender goes away), so a forgotten simulator does not linger.
                    let _ = stop_rx.await;
                })
                .await
        });
        tracing::debug!(%addr, "bank simulator listening");
        Ok(BankSimHandle { addr, shared, stop: Some(stop_tx), task: Some(task) })
    }
}

/// Control and inspection of a running simulator.
pub struct BankSimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl BankSimHandle {
    /// `http://127.0.0.1:<port>`, to use as the gateway's base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every batch stored, in arrival order, one per idempotency key.
    pub fn batches(&self) -> Vec<ReceivedBatch> {
        self.shared.lock().batches.clone()
    }

    /// How many `POST /batches` arrived, whatever their fate (rejected, failed, duplicate…).
    pub fn requests(&self) -> u32 {
        self.shared.lock().requests
    }

    /// The next `n` correctly signed uploads are answered with `status` and NOT stored.
    /// A `status` that is not a valid HTTP status becomes 500.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.shared.lock().fail_next = Fault { remaining: n, value: status };
    }

    /// The next `n` correctly signed uploads ARE stored (or counted as duplicates), and then
    /// answered with `status`: the bank took the batch but its answer got lost.
    pub fn fail_after_store_next(&self, n: u32, status: u16) {
        self.shared.lock().fail_after_store_next = Fault { remaining: n, value: status };
    }

    /// The next `n` correctly signed uploads are stored, then answered only after `d`: long
    /// enough, in tests, for the client to time out and retry.
    pub fn delay_next(&self, n: u32, d: Duration) {
        self.shared.lock().delay_next = Fault { remaining: n, value: d };
    }

    /// Offers a result file: listed by `GET /results`, served by `GET /results/{name}`.
    /// A second call with the same name replaces it.
    pub fn put_result(&self, name: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.shared.lock().results.insert(name.into(), bytes.into());
    }

    /// A result file offered, by name.
    pub fn result(&self, name: &str) -> Option<Vec<u8>> {
        self.shared.lock().results.get(name).cloned()
    }

    /// Answers every stored batch not answered yet, like the bank's overnight run: reads it,
    /// decides each payment's fate with `mix`, and offers the answer with
    /// [`put_result`](Self::put_result) — a pain.002 (`pain002_<batch>.xml`, in
    /// `opts.pain002_version`) for a pain.001, a result file (`result_<batch>.<ext>`, laid out by
    /// `opts.domestic`) for a domestic file. The mix's unknown references are reported once, in
    /// the first answer that follows. All or nothing: if one batch cannot be read or answered,
    /// nothing is put or marked answered. Returns the names put, in arrival order.
    pub fn answer_all(&self, mix: &AnswerMix, opts: &AnswerOptions) -> Result<Vec<String>, SimError> {
        let (todo, mut n, reported) = {
            let state = self.shared.lock();
            let todo: Vec<ReceivedBatch> =
                state.batches.iter().filter(|b| !state.answered_ids.contains(&b.bank_batch_id)).cloned().collect();
            (todo, state.reports, state.reported_unknown.clone())
        };
        let mut unknown: Vec<String> =
            mix.unknown_references.iter().filter(|r| !reported.contains(*r)).cloned().collect();
        let mut answers = Vec::with_capacity(todo.len());
        for b in &todo {
            n += 1;
            let msg_id = respond::report_id("RPT", &opts.created_at, n);
            let answered = respond::answer_file(&b.file_name, &b.bytes, mix, opts, &unknown, &msg_id)?;
            unknown.clear();
            answers.push((b.bank_batch_id.clone(), answered));
        }
        let mut state = self.shared.lock();
        let mut names = Vec::with_capacity(answers.len());
        for (bank_id, answered) in answers {
            // Answered meanwhile by another caller: keep the first answer.
            if !state.answered_ids.insert(bank_id) {
                continue;
            }
            state.reports += 1;
            state.results.insert(answered.answer_name.clone(), answered.answer.clone());
            names.push(answered.answer_name.clone());
            state.answered.push(answered);
        }
        if !names.is_empty() {
            state.reported_unknown.extend(mix.unknown_references.iter().cloned());
        }
        Ok(names)
    }

    /// Offers the second answer of every answered batch with late returns (RJCT after the ACSC
    /// of the first answer), once per batch: `pain002_<batch>_late.xml` or
    /// `result_<batch>_late.<ext>`. Returns the names put.
    pub fn answer_late_returns(&self, opts: &AnswerOptions) -> Result<Vec<String>, SimError> {
        let (todo, mut n) = {
            let state = self.shared.lock();
            let todo: Vec<AnsweredBatch> = state
                .answered
                .iter()
                .filter(|a| a.has_late_returns() && !state.late_answered.contains(&a.answer_name))
                .cloned()
                .collect();
            (todo, state.reports)
        };
        let mut files = Vec::new();
        for a in &todo {
            n += 1;
            if let Some(file) = respond::late_answer(a, opts, &respond::report_id("LRT", &opts.created_at, n))? {
                files.push((a.answer_name.clone(), file));
            }
        }
        let mut state = self.shared.lock();
        let mut names = Vec::with_capacity(files.len());
        for (key, (name, bytes)) in files {
            if state.late_answered.insert(key) {
                state.reports += 1;
                state.results.insert(name.clone(), bytes);
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Every batch answered so far, in the order answered.
    pub fn answered(&self) -> Vec<AnsweredBatch> {
        self.shared.lock().answered.clone()
    }

    /// The natural statement for everything answered so far (see
    /// [`statement::statement_for`]).
    pub fn statement(&self, opening: Fen, booking: Booking, opts: &StatementOptions) -> StatementSpec {
        let executed: Vec<_> = self.shared.lock().answered.iter().map(AnsweredBatch::executed).collect();
        statement::statement_for(&executed, opening, booking, opts)
    }

    /// Offers `spec` as a camt.053 (`camt053_<statement id>.xml`) and returns the name.
    pub fn put_statement(
        &self,
        spec: &StatementSpec,
        version: Camt053Version,
        created_at: &chrono::DateTime<chrono::FixedOffset>,
    ) -> String {
        let safe: String = spec
            .statement_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
            .collect();
        let name = format!("camt053_{safe}.xml");
        self.put_result(name.clone(), statement::camt053(spec, version, created_at));
        name
    }

    /// Stops accepting, lets requests in flight finish (waiting at most 5 s, then cutting them
    /// off: a delayed answer nobody waits for any more need not hold up a test), and returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(5), &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "bank simulator stopped with an error"),
                Ok(Err(e)) => tracing::warn!(error = %e, "bank simulator task failed"),
                Err(_) => task.abort(),
            }
        }
    }
}

/// A fault scheduled for the next `remaining` uploads.
#[derive(Clone, Copy, Debug, Default)]
struct Fault<T> {
    remaining: u32,
    value: T,
}

impl<T: Copy> Fault<T> {
    /// Uses up one occurrence, returning its value, or `None` when none is left.
    fn take(&mut self) -> Option<T> {
        (self.remaining > 0).then(|| {
            self.remaining -= 1;
            self.value
        })
    }
}

/// What the handle and the HTTP handlers share.
///
/// The state sits behind a `std::sync::Mutex`, not `tokio::sync::Mutex`: every critical section
/// is a few field updates or a clone, with no `.await` inside (a handler takes what it needs,
/// releases the lock, and only then sleeps or answers). A blocking mutex is cheaper for that,
/// and it lets the handle's methods be plain synchronous functions that tests and `demo` call
/// anywhere; a tokio mutex would make them `async` for nothing. Holding it across an `.await`
/// would be the one mistake to avoid (it could block a runtime thread), and the handlers do not.
pub(crate) struct Shared {
    key: SecretString,
    state: Mutex<State>,
}

impl Shared {
    /// The state, even if a panicking thread poisoned the lock: the data is plain counters and
    /// copies, never left half-updated in a way that matters to a simulator.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct State {
    batches: Vec<ReceivedBatch>,
    requests: u32,
    next_batch_no: u64,
    fail_next: Fault<u16>,
    fail_after_store_next: Fault<u16>,
    delay_next: Fault<Duration>,
    results: BTreeMap<String, Vec<u8>>,
    /// Bank batch ids (`SIM…`) answered by [`BankSimHandle::answer_all`].
    answered_ids: HashSet<String>,
    answered: Vec<AnsweredBatch>,
    /// Answer names of the batches whose late answer was sent.
    late_answered: HashSet<String>,
    /// Unknown references already reported.
    reported_unknown: HashSet<String>,
    /// Answers produced, for their message ids.
    reports: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::banksim::respond::tests::{at, picked};
    use crate::formats::domestic::tests::{fixture_profiles, sample_batch};

    /// A simulator holding the two picked-up sample batches as if uploaded.
    async fn sim_with_batches() -> BankSimHandle {
        let sim = BankSim::start(SimConfig { key: SecretString::from("k") }).await.unwrap_or_else(|e| panic!("{e}"));
        for (i, p) in picked().into_iter().enumerate() {
            sim.shared.lock().batches.push(ReceivedBatch {
                idempotency_key: format!("K{i}"),
                bank_batch_id: format!("SIM{:08}", i + 1),
                file_name: p.file_name,
                bytes: p.bytes,
                uploads: 1,
            });
        }
        sim
    }

    #[tokio::test]
    async fn answer_all_answers_each_batch_once_then_late_returns_and_statement() {
        let sim = sim_with_batches().await;
        let opts = AnswerOptions { domestic: Some(fixture_profiles()["icbc"].clone()), ..AnswerOptions::new(at()) };
        let late_card = sample_batch().payments[4].card_number.clone();
        let mix = AnswerMix::settle_all()
            .with_card(late_card, Fate::LateReturn(Reason::frozen()))
            .with_reference("B20260901-002-0001", Fate::Reject(Reason::closed()))
            .with_unknown_reference("AP999999999999");
        let names = sim.answer_all(&mix, &opts).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names, ["pain002_B20260901-001.xml", "result_B20260901-002.csv"]);
        let xml = String::from_utf8(sim.result(&names[0]).unwrap_or_default()).unwrap_or_default();
        assert!(xml.contains("AP999999999999"), "unknown reference in the first answer");
        let csv = sim.result(&names[1]).unwrap_or_default();
        assert!(!encoding_rs::GBK.decode(&csv).0.contains("AP999999999999"), "and only there");
        assert!(sim.answer_all(&mix, &opts).unwrap_or_else(|e| panic!("{e}")).is_empty(), "nothing twice");
        assert_eq!(sim.answered().len(), 2);

        let late = sim.answer_late_returns(&opts).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(late, ["pain002_B20260901-001_late.xml", "result_B20260901-002_late.csv"]);
        assert!(sim.answer_late_returns(&opts).unwrap_or_else(|e| panic!("{e}")).is_empty());

        let day = chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap_or_default();
        let stmt_opts = StatementOptions {
            account_no: "350101200000001234".into(),
            account_name: None,
            statement_id: "STMT-20260901".into(),
            from_date: day,
            to_date: day,
            with_details: false,
            late_returns: false,
        };
        let gross = sim.statement(Fen(10_000_000), Booking::Gross, &stmt_opts);
        let net = sim.statement(Fen(10_000_000), Booking::Net, &stmt_opts);
        let total = sample_batch().ctrl_sum().0;
        assert_eq!(gross.debits().0, 2 * total);
        assert_eq!(gross.credits().0, sample_batch().payments[0].amount.0, "the rejection comes back");
        assert_eq!(net.debits().0, 2 * total - sample_batch().payments[0].amount.0);
        assert_eq!(gross.closing(), net.closing(), "either way the same money left");
        let name = sim.put_statement(&gross, Camt053Version::V02, &at());
        assert_eq!(name, "camt053_STMT-20260901.xml");
        assert!(sim.result(&name).is_some());
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn answer_all_is_all_or_nothing() {
        let sim = sim_with_batches().await;
        // No domestic profile: the ICBC file cannot be answered, so neither is the pain.001.
        let err = sim.answer_all(&AnswerMix::default(), &AnswerOptions::new(at()));
        assert!(matches!(err, Err(SimError::Read { .. })));
        assert!(sim.answered().is_empty() && sim.result("pain002_B20260901-001.xml").is_none());
        sim.shutdown().await;
    }
}
