//! The HTTPS bank–enterprise gateway (银企直连) client: upload a batch file, list and fetch the
//! bank's result files.
//!
//! ## Protocol
//! Every request carries
//! - `X-Aidpay-Timestamp`: Unix seconds (real wall-clock time, not `AIDPAY_NOW`: it proves
//!   freshness to the bank's clock, which accepts ±300 s);
//! - `X-Aidpay-Signature`: lower-case hex of HMAC-SHA256(key, `timestamp "\n" subject "\n" body`).
//!
//! | request | subject | body | answer |
//! |---|---|---|---|
//! | `POST {base}/batches` + `Idempotency-Key: <batch id>` + `X-Aidpay-File-Name: <name>` | the batch id | the file bytes (`application/octet-stream`) | `{"bank_batch_id": "…", "duplicate": bool}` |
//! | `GET {base}/batches/{key}` | `/batches/{key}` | empty | the receipt of the batch stored under that idempotency key, or 404 when the bank holds none |
//! | `GET {base}/results` | `/results` | empty | JSON array of result file names |
//! | `GET {base}/results/{name}` | `/results/{name}` (name unencoded) | empty | the file bytes |
//!
//! ## Why an idempotency key
//! A timeout or a dropped connection does not tell us whether the bank took the upload: the bank
//! may have stored the batch and lost only its answer. Retrying blindly could then pay every
//! student twice. So every attempt of one upload carries the **same** `Idempotency-Key` (our batch
//! id); the bank stores a batch once per key and answers a repeat with the same `bank_batch_id`
//! and `duplicate: true`. That makes retrying always safe, and lets us retry on anything that
//! might be transient: 5xx, 429, timeouts, connection errors. A 4xx other than 429 (bad
//! signature, malformed file…) is final: it would be refused again.
//!
//! Retries wait `initial_backoff × 2^n` (n = 0, 1, …, capped at [`MAX_BACKOFF`]) plus up to 10 %
//! random jitter, so many clients failing together do not retry in lock-step. The timestamp and
//! signature are fresh on every attempt; the idempotency key never changes.
//!
//! The key is a [`SecretString`]: it is used only to compute signatures, never logged, never in an
//! error, and `Debug` shows it as `[REDACTED]`.

use super::{TransportError, body_excerpt};
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use reqwest::{RequestBuilder, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::time::Duration;
use tracing::Instrument;

/// Header carrying our batch id; the same on every retry of one upload.
pub const HEADER_IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// Header carrying the file's name (ASCII).
pub const HEADER_FILE_NAME: &str = "X-Aidpay-File-Name";
/// Header carrying the signing time in Unix seconds.
pub const HEADER_TIMESTAMP: &str = "X-Aidpay-Timestamp";
/// Header carrying the hex HMAC-SHA256 signature.
pub const HEADER_SIGNATURE: &str = "X-Aidpay-Signature";
/// How far a request's timestamp may be from the bank's clock, in seconds.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
/// The longest wait between two attempts, whatever `initial_backoff` and the attempt number say.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

type HmacSha256 = Hmac<Sha256>;

/// How to reach the gateway and how hard to try.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    /// e.g. `https://gateway.bank.example/aidpay`; paths are appended to it.
    pub base_url: String,
    /// The shared HMAC key. `Debug` prints `[REDACTED]`.
    pub key: SecretString,
    /// Whole-request timeout (connect, send, and read the full answer) for one attempt.
    pub timeout: Duration,
    /// Attempts in all, the first included (0 is treated as 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub initial_backoff: Duration,
}

/// The bank's answer to an upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReceipt {
    /// The bank's own id for the batch: the same for every upload with the same idempotency key.
    pub bank_batch_id: String,
    /// True when the bank already had this idempotency key (a retry after a lost answer).
    pub duplicate: bool,
}

/// A client for one gateway. Cheap to clone (the connection pool is shared).
#[derive(Clone, Debug)]
pub struct GatewayClient {
    settings: GatewaySettings,
    base: Url,
    http: reqwest::Client,
}

/// One attempt's failure: worth another try, or not.
enum AttemptError {
    Retry(TransportError),
    Final(TransportError),
}

impl GatewayClient {
    /// Checks the base URL (http or https) and builds the HTTP client with the timeout.
    /// Redirects are not followed: a signed POST must not silently go elsewhere.
    pub fn new(settings: GatewaySettings) -> Result<Self, TransportError> {
        let base = Url::parse(&settings.base_url)
            .map_err(|e| TransportError::Invalid(format!("gateway base URL {:?}: {e}", settings.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(TransportError::Invalid(format!(
                "gateway base URL {:?} must be an http(s) URL",
                settings.base_url
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TransportError::Invalid(format!("cannot build the HTTP client: {}", error_chain(&e))))?;
        Ok(GatewayClient { settings, base, http })
    }

    /// The settings this client was built with.
    pub fn settings(&self) -> &GatewaySettings {
        &self.settings
    }

    /// Uploads one batch file, retrying as the module doc says. `batch_id` is our batch's id and
    /// becomes the idempotency key; it and `file_name` must be visible ASCII without spaces.
    pub async fn upload(&self, batch_id: &str, file_name: &str, bytes: &[u8]) -> Result<UploadReceipt, TransportError> {
        check_token("batch id", batch_id)?;
        check_token("file name", file_name)?;
        let url = self.url(&["batches"])?;
        let span = tracing::info_span!("gateway_upload", batch_id, file_name, bytes = bytes.len());
        let body = self
            .send_with_retry(|| {
                let (timestamp, signature) = self.stamp(batch_id, bytes)?;
                Ok(self
                    .http
                    .post(url.clone())
                    .header(HEADER_IDEMPOTENCY_KEY, batch_id)
                    .header(HEADER_FILE_NAME, file_name)
                    .header(HEADER_TIMESTAMP, timestamp)
                    .header(HEADER_SIGNATURE, signature)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.to_vec()))
            })
            .instrument(span.clone())
            .await?;
        let receipt: UploadReceipt = serde_json::from_slice(&body).map_err(|e| {
            TransportError::InvalidResponse(format!("upload answer is not a receipt ({e}): {}", body_excerpt(&body)))
        })?;
        span.in_scope(|| {
            tracing::info!(bank_batch_id = %receipt.bank_batch_id, duplicate = receipt.duplicate, "batch accepted by the bank")
        });
        Ok(receipt)
    }

    /// What the bank holds under the idempotency key `batch_id`: its receipt, or `None` when the
    /// bank answers that it holds no batch under that key (HTTP 404). This is how a hand-over
    /// interrupted by a crash is decided without sending the file again.
    pub async fn lookup(&self, batch_id: &str) -> Result<Option<UploadReceipt>, TransportError> {
        check_token("batch id", batch_id)?;
        let url = self.url(&["batches", batch_id])?;
        match self.signed_get(url, &format!("/batches/{batch_id}")).instrument(tracing::info_span!("gateway_lookup", batch_id)).await {
            Ok(body) => serde_json::from_slice(&body).map(Some).map_err(|e| {
                TransportError::InvalidResponse(format!("batch lookup answer is not a receipt ({e}): {}", body_excerpt(&body)))
            }),
            Err(TransportError::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The names of the result files the bank currently offers.
    pub async fn list_results(&self) -> Result<Vec<String>, TransportError> {
        let url = self.url(&["results"])?;
        let body = self.signed_get(url, "/results").instrument(tracing::info_span!("gateway_list_results")).await?;
        serde_json::from_slice(&body).map_err(|e| {
            TransportError::InvalidResponse(format!(
                "result list is not a JSON array of names ({e}): {}",
                body_excerpt(&body)
            ))
        })
    }

    /// One result file's bytes, by a name from [`list_results`](Self::list_results).
    ///
    /// Names come from the bank and are later used as local file names, so one that could leave a
    /// folder (`/`, `\`, `.`, `..`), is empty, or holds control characters is refused here. Spaces
    /// and non-ASCII are fine: the name travels percent-encoded in the path, not in a header.
    pub async fn fetch_result(&self, name: &str) -> Result<Vec<u8>, TransportError> {
        if name.is_empty()
            || name == "."
            || name == ".."
            || name.contains(['/', '\\'])
            || name.contains(char::is_control)
        {
            return Err(TransportError::Invalid(format!("result name {name:?} is not a plain file name")));
        }
        let url = self.url(&["results", name])?;
        self.signed_get(url, &format!("/results/{name}"))
            .instrument(tracing::info_span!("gateway_fetch_result", name))
            .await
    }

    async fn signed_get(&self, url: Url, subject: &str) -> Result<Vec<u8>, TransportError> {
        self.send_with_retry(|| {
            let (timestamp, signature) = self.stamp(subject, b"")?;
            Ok(self.http.get(url.clone()).header(HEADER_TIMESTAMP, timestamp).header(HEADER_SIGNATURE, signature))
        })
        .await
    }

    /// `base` with `segments` appended, each percent-encoded as one path segment.
    fn url(&self, segments: &[&str]) -> Result<Url, TransportError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| TransportError::Invalid("gateway base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// A fresh timestamp and its signature over `subject` and `body`.
    fn stamp(&self, subject: &str, body: &[u8]) -> Result<(String, String), TransportError> {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = sign(&self.settings.key, &timestamp, subject, body)?;
        Ok((timestamp, signature))
    }

    /// Runs `make`'s request until it succeeds, fails finally, or attempts run out.
    /// `make` is called once per attempt, so every attempt is freshly signed.
    async fn send_with_retry<F>(&self, make: F) -> Result<Vec<u8>, TransportError>
    where
        F: Fn() -> Result<RequestBuilder, TransportError>,
    {
        let max_attempts = self.settings.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let request = make()?;
            match self.attempt(request).await {
                Ok((status, body)) => {
                    tracing::info!(attempt, status = status.as_u16(), "gateway answered");
                    return Ok(body);
                }
                Err(AttemptError::Final(e)) => {
                    tracing::warn!(attempt, error = %e, "gateway request failed, not retrying");
                    return Err(e);
                }
                Err(AttemptError::Retry(e)) if attempt >= max_attempts => {
                    tracing::warn!(attempt, error = %e, "gateway request failed, giving up");
                    return Err(TransportError::GaveUp { attempts: attempt, last: e.to_string() });
                }
                Err(AttemptError::Retry(e)) => {
                    let wait = backoff(self.settings.initial_backoff, attempt - 1);
                    tracing::warn!(attempt, error = %e, wait_ms = wait.as_millis() as u64, "gateway request failed, will retry");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    /// One request and its classification.
    async fn attempt(&self, request: RequestBuilder) -> Result<(StatusCode, Vec<u8>), AttemptError> {
        let response = request.send().await.map_err(classify_reqwest)?;
        let status = response.status();
        let body = response.bytes().await.map_err(classify_reqwest)?.to_vec();
        if status.is_success() {
            Ok((status, body))
        } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(AttemptError::Retry(TransportError::Http { status: status.as_u16(), body: body_excerpt(&body) }))
        } else if status.is_client_error() {
            Err(AttemptError::Final(TransportError::Rejected { status: status.as_u16(), body: body_excerpt(&body) }))
        } else {
            // 1xx/3xx: not part of the protocol (redirects are not followed).
            Err(AttemptError::Final(TransportError::Http { status: status.as_u16(), body: body_excerpt(&body) }))
        }
    }
}

/// Lower-case hex HMAC-SHA256 over `timestamp "\n" subject "\n" body`: the gateway signature.
/// The bank simulator verifies with the same function; a fixed test vector pins the format.
pub fn sign(key: &SecretString, timestamp: &str, subject: &str, body: &[u8]) -> Result<String, TransportError> {
    let mac = keyed_mac(key, timestamp, subject, body)?;
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// The HMAC state fed with the signed message, ready to `finalize` or `verify_slice` (which
/// compares in constant time).
pub fn keyed_mac(
    key: &SecretString,
    timestamp: &str,
    subject: &str,
    body: &[u8],
) -> Result<HmacSha256, TransportError> {
    // HMAC takes keys of any length, so this cannot fail in practice; no key material in the error.
    let mut mac = HmacSha256::new_from_slice(key.expose_secret().as_bytes())
        .map_err(|_| TransportError::Invalid("the gateway key cannot be used as an HMAC key".into()))?;
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(subject.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    Ok(mac)
}

/// The wait before attempt `n + 2`: `initial × 2^n`, capped at [`MAX_BACKOFF`], plus 0–10 % jitter.
fn backoff(initial: Duration, n: u32) -> Duration {
    let factor = 1u32.checked_shl(n).unwrap_or(u32::MAX);
    let base = initial.saturating_mul(factor).min(MAX_BACKOFF);
    let jitter: f64 = rand::rng().random_range(0.0..=0.1);
    base + base.mul_f64(jitter)
}

/// Header values must be visible ASCII; spaces and `\n` are refused too, because a space is
/// trimmed by HTTP and a newline would blur the signed message's fields.
fn check_token(what: &str, value: &str) -> Result<(), TransportError> {
    if value.is_empty() || value.len() > 200 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TransportError::Invalid(format!(
            "{what} {value:?} must be 1–200 visible ASCII characters without spaces"
        )));
    }
    Ok(())
}

fn classify_reqwest(e: reqwest::Error) -> AttemptError {
    if e.is_builder() {
        AttemptError::Final(TransportError::Invalid(error_chain(&e)))
    } else if e.is_timeout() {
        AttemptError::Retry(TransportError::Timeout)
    } else {
        // Connection refused or reset, TLS failure, a body cut short: the request may or may not
        // have reached the bank, and the idempotency key makes trying again safe.
        AttemptError::Retry(TransportError::Network(error_chain(&e)))
    }
}

/// An error and its causes, `a: b: c`, since reqwest's own message hides the cause.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::banksim::{BankSim, BankSimHandle, SimConfig};

    const KEY: &str = "test-key-5f1e9c0a-do-not-leak";

    async fn sim() -> BankSimHandle {
        BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap()
    }

    fn settings(base_url: String, key: &str) -> GatewaySettings {
        GatewaySettings {
            base_url,
            key: SecretString::from(key),
            timeout: Duration::from_secs(5),
            max_attempts: 4,
            initial_backoff: Duration::from_millis(5),
        }
    }

    fn client(sim: &BankSimHandle) -> GatewayClient {
        GatewayClient::new(settings(sim.base_url(), KEY)).unwrap()
    }

    fn assert_no_key(e: &TransportError) {
        assert!(!e.to_string().contains(KEY), "key leaked in Display: {e}");
        assert!(!format!("{e:?}").contains(KEY), "key leaked in Debug: {e:?}");
    }

    #[test]
    fn signature_matches_a_vector_computed_independently() {
        // python3: hmac.new(b"k", b"1700000000\nB-1\nbody", hashlib.sha256).hexdigest()
        let sig = sign(&SecretString::from("k"), "1700000000", "B-1", b"body").unwrap();
        assert_eq!(sig, "c3ea4889840ddea8c4cd9ca3675b539da0726525c3916163160039656f5dd1b0");
    }

    #[test]
    fn backoff_doubles_with_small_jitter_and_is_capped() {
        let ms = Duration::from_millis;
        for n in 0..4 {
            let b = backoff(ms(100), n);
            let base = ms(100 * (1 << n));
            assert!(b >= base && b <= base + base / 10, "n={n}: {b:?}");
        }
        assert!(backoff(Duration::from_secs(1), 40) <= MAX_BACKOFF + MAX_BACKOFF / 10);
    }

    #[test]
    fn debug_of_settings_and_client_hides_the_key() {
        let s = settings("http://127.0.0.1:9".into(), KEY);
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(KEY) && dbg.contains("REDACTED"), "{dbg}");
        let c = GatewayClient::new(s).unwrap();
        assert!(!format!("{c:?}").contains(KEY));
        let sim_cfg = crate::banksim::SimConfig { key: SecretString::from(KEY) };
        assert!(!format!("{sim_cfg:?}").contains(KEY));
    }

    #[test]
    fn bad_base_url_and_bad_names_are_invalid() {
        assert!(matches!(GatewayClient::new(settings("ftp://x".into(), KEY)), Err(TransportError::Invalid(_))));
        assert!(matches!(GatewayClient::new(settings("not a url".into(), KEY)), Err(TransportError::Invalid(_))));
    }

    #[tokio::test]
    async fn upload_stores_exactly_one_batch_with_identical_bytes() {
        let sim = sim().await;
        let bytes = "H|2|200.00\nD|6222020200112233445|张三|100.00\n".as_bytes();
        let r = client(&sim).upload("B-2026-0001", "B-2026-0001.txt", bytes).await.unwrap();
        assert!(!r.duplicate);
        let batches = sim.batches();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].bytes, bytes);
        assert_eq!(batches[0].idempotency_key, "B-2026-0001");
        assert_eq!(batches[0].file_name, "B-2026-0001.txt");
        assert_eq!(batches[0].bank_batch_id, r.bank_batch_id);
        assert_eq!(batches[0].uploads, 1);
        assert_eq!(sim.requests(), 1);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn two_server_errors_then_success_is_one_batch_after_three_requests() {
        let sim = sim().await;
        sim.fail_next(2, 500);
        let r = client(&sim).upload("B-2", "b2.xml", b"<x/>").await.unwrap();
        assert!(!r.duplicate, "the failed attempts stored nothing");
        assert_eq!(sim.requests(), 3);
        assert_eq!(sim.batches().len(), 1);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn lost_answer_is_retried_under_the_same_key_and_recognised_as_duplicate() {
        let sim = sim().await;
        sim.fail_after_store_next(1, 500);
        let r = client(&sim).upload("B-3", "b3.xml", b"<x/>").await.unwrap();
        assert!(r.duplicate);
        let batches = sim.batches();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].uploads, 2);
        assert_eq!(batches[0].bank_batch_id, r.bank_batch_id);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn timeout_is_retried_and_still_one_batch() {
        let sim = sim().await;
        sim.delay_next(1, Duration::from_secs(2));
        let mut s = settings(sim.base_url(), KEY);
        s.timeout = Duration::from_millis(300);
        let r = GatewayClient::new(s).unwrap().upload("B-4", "b4.xml", b"<x/>").await.unwrap();
        assert!(r.duplicate, "the first, timed-out attempt was stored");
        assert_eq!(sim.batches().len(), 1);
        assert_eq!(sim.requests(), 2);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn wrong_key_is_rejected_once_and_nothing_stored() {
        let sim = sim().await;
        let c = GatewayClient::new(settings(sim.base_url(), "the-wrong-key")).unwrap();
        let e = c.upload("B-5", "b5.xml", b"<x/>").await.unwrap_err();
        assert!(matches!(e, TransportError::Rejected { status: 401, .. }), "{e:?}");
        assert_eq!(sim.requests(), 1, "a 401 is final");
        assert!(sim.batches().is_empty());
        assert_no_key(&e);
        assert!(!e.to_string().contains("the-wrong-key"));
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn permanent_503_gives_up_after_max_attempts() {
        let sim = sim().await;
        sim.fail_next(100, 503);
        let e = client(&sim).upload("B-6", "b6.xml", b"<x/>").await.unwrap_err();
        assert!(matches!(e, TransportError::GaveUp { attempts: 4, .. }), "{e:?}");
        assert!(e.to_string().contains("503"), "{e}");
        assert_eq!(sim.requests(), 4);
        assert!(sim.batches().is_empty());
        assert_no_key(&e);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn too_many_requests_is_retried() {
        let sim = sim().await;
        sim.fail_next(1, 429);
        client(&sim).upload("B-7", "b7.xml", b"<x/>").await.unwrap();
        assert_eq!(sim.requests(), 2);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn other_client_errors_are_final() {
        let sim = sim().await;
        sim.fail_next(1, 422);
        let e = client(&sim).upload("B-8", "b8.xml", b"<x/>").await.unwrap_err();
        assert!(matches!(e, TransportError::Rejected { status: 422, .. }), "{e:?}");
        assert_eq!(sim.requests(), 1);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn nobody_listening_gives_up_with_a_network_error() {
        // Bind then drop, so the port is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut s = settings(format!("http://127.0.0.1:{port}"), KEY);
        s.max_attempts = 2;
        let e = GatewayClient::new(s).unwrap().upload("B-9", "b9.xml", b"<x/>").await.unwrap_err();
        assert!(matches!(e, TransportError::GaveUp { attempts: 2, .. }), "{e:?}");
        assert_no_key(&e);
    }

    #[tokio::test]
    async fn names_that_are_not_visible_ascii_are_refused_before_sending() {
        let sim = sim().await;
        let c = client(&sim);
        for (id, name) in [("B 1", "a.xml"), ("B-1", "资助.xml"), ("", "a.xml"), ("B-1", "a\nb")] {
            let e = c.upload(id, name, b"x").await.unwrap_err();
            assert!(matches!(e, TransportError::Invalid(_)), "{id:?} {name:?}: {e:?}");
        }
        for name in ["..", ".", "a/b", "a\\b", "", "a\nb"] {
            assert!(matches!(c.fetch_result(name).await, Err(TransportError::Invalid(_))), "{name:?}");
        }
        assert_eq!(sim.requests(), 0);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn results_round_trip() {
        let sim = sim().await;
        let c = client(&sim);
        assert!(c.list_results().await.unwrap().is_empty());
        sim.put_result("pain002-B-1.xml", b"<Document>pain.002</Document>".to_vec());
        sim.put_result("result 2026 #1.txt", "成功|100.00".as_bytes().to_vec());
        let names = c.list_results().await.unwrap();
        assert_eq!(names, vec!["pain002-B-1.xml".to_string(), "result 2026 #1.txt".to_string()]);
        assert_eq!(c.fetch_result("pain002-B-1.xml").await.unwrap(), b"<Document>pain.002</Document>");
        assert_eq!(c.fetch_result("result 2026 #1.txt").await.unwrap(), "成功|100.00".as_bytes());
        sim.put_result("回盘-2026?.txt", b"gbk".to_vec());
        assert_eq!(c.fetch_result("回盘-2026?.txt").await.unwrap(), b"gbk", "non-ASCII and '?' travel encoded");
        let e = c.fetch_result("missing.xml").await.unwrap_err();
        assert!(matches!(e, TransportError::Rejected { status: 404, .. }), "{e:?}");
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn results_need_the_right_key() {
        let sim = sim().await;
        sim.put_result("r.xml", b"x".to_vec());
        let c = GatewayClient::new(settings(sim.base_url(), "wrong")).unwrap();
        assert!(matches!(c.list_results().await, Err(TransportError::Rejected { status: 401, .. })));
        assert!(matches!(c.fetch_result("r.xml").await, Err(TransportError::Rejected { status: 401, .. })));
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn base_url_with_a_path_prefix_is_kept() {
        let sim = sim().await;
        // The simulator serves at its root, so a prefix must lead to 404 there: proof that the
        // prefix is part of the request path rather than dropped.
        let c = GatewayClient::new(settings(format!("{}/prefix/", sim.base_url()), KEY)).unwrap();
        assert!(matches!(c.list_results().await, Err(TransportError::Rejected { status: 404, .. })));
        sim.shutdown().await;
    }
}
