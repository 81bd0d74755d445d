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
//! It is ordinary library code, not `#[cfg(test)]`, because `demo` runs it too.

pub mod answers;
pub mod batch_reader;
pub mod dropfolder;
pub mod http;
pub mod pain002;
pub mod result_file;
pub mod statement;
mod xml;

pub use answers::{AnswerMix, Fate, RandomMix, Reason, decide};
pub use batch_reader::{BatchReadError, SimBatch, SimFormat, SimPayment};
pub use dropfolder::{PickedUp, pick_up};
pub use pain002::Pain002Version;

use secrecy::SecretString;
use std::collections::BTreeMap;
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
}
