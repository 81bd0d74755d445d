//! The simulator's gateway side: the HTTP routes and what each does.
//!
//! - `POST /batches`: check the signature and timestamp (401 and nothing stored if wrong), then
//!   apply any scheduled fault, then store the batch once per `Idempotency-Key`. A repeated key is
//!   answered 200 with the *same* `bank_batch_id` and `duplicate: true`, and stores nothing new:
//!   this is what makes the client's retries safe.
//! - `GET /batches/{key}`: the receipt of the batch stored under that key, or 404.
//! - `GET /results`, `GET /results/{name}`: signed the same way, over the path and an empty body.
//!
//! The protocol itself is documented once, in [`crate::transport::gateway`]; signatures are
//! checked with [`crate::transport::gateway::keyed_mac`] and `Mac::verify_slice`, which compares
//! in constant time so response timing leaks nothing about the expected signature.

use super::{ReceivedBatch, Shared};
use crate::transport::gateway::{
    HEADER_FILE_NAME, HEADER_IDEMPOTENCY_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_CLOCK_SKEW_SECS, UploadReceipt,
    keyed_mac,
};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::Mac;
use std::sync::Arc;

/// Largest upload accepted. axum's default (2 MB) is below a 5,000-line pain.001.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/batches", post(post_batch))
        .route("/batches/{key}", get(get_batch))
        .route("/results", get(list_results))
        .route("/results/{name}", get(get_result))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

fn status_or_500(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks the timestamp window and the signature over `subject` and `body`; on failure, the
/// reason for the 401 answer.
fn authenticate(sim: &Shared, headers: &HeaderMap, subject: &str, body: &[u8]) -> Result<(), &'static str> {
    let timestamp = header_str(headers, HEADER_TIMESTAMP).ok_or("missing timestamp")?;
    let seconds: i64 = timestamp.parse().map_err(|_| "timestamp is not Unix seconds")?;
    if (chrono::Utc::now().timestamp() - seconds).abs() > MAX_CLOCK_SKEW_SECS {
        return Err("timestamp outside the allowed window");
    }
    let signature = header_str(headers, HEADER_SIGNATURE)
        .and_then(|s| hex::decode(s).ok())
        .ok_or("missing or malformed signature")?;
    let mac = keyed_mac(&sim.key, timestamp, subject, body).map_err(|_| "key unusable")?;
    mac.verify_slice(&signature).map_err(|_| "bad signature")
}

async fn post_batch(State(sim): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    sim.lock().requests += 1;
    let Some(key) = header_str(&headers, HEADER_IDEMPOTENCY_KEY).filter(|k| !k.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "missing Idempotency-Key");
    };
    let Some(file_name) = header_str(&headers, HEADER_FILE_NAME).filter(|n| !n.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "missing X-Aidpay-File-Name");
    };
    if let Err(why) = authenticate(&sim, &headers, key, &body) {
        tracing::debug!(idempotency_key = key, why, "simulator: upload refused");
        return error(StatusCode::UNAUTHORIZED, why);
    }

    // Decide everything under the lock, then release it before sleeping or answering.
    let (receipt, after_store) = {
        let mut state = sim.lock();
        if let Some(status) = state.fail_next.take() {
            return error(status_or_500(status), "simulated failure, batch not stored");
        }
        let receipt = match state.batches.iter_mut().find(|b| b.idempotency_key == key) {
            Some(existing) => {
                existing.uploads += 1;
                UploadReceipt { bank_batch_id: existing.bank_batch_id.clone(), duplicate: true }
            }
            None => {
                state.next_batch_no += 1;
                let bank_batch_id = format!("SIM{:08}", state.next_batch_no);
                state.batches.push(ReceivedBatch {
                    idempotency_key: key.to_string(),
                    bank_batch_id: bank_batch_id.clone(),
                    file_name: file_name.to_string(),
                    bytes: body.to_vec(),
                    uploads: 1,
                });
                UploadReceipt { bank_batch_id, duplicate: false }
            }
        };
        let after_store = match state.fail_after_store_next.take() {
            Some(status) => AfterStore::Fail(status),
            None => state.delay_next.take().map_or(AfterStore::Answer, AfterStore::Delay),
        };
        (receipt, after_store)
    };
    tracing::debug!(idempotency_key = key, bank_batch_id = %receipt.bank_batch_id, duplicate = receipt.duplicate, "simulator: batch stored");

    match after_store {
        AfterStore::Fail(status) => error(status_or_500(status), "simulated failure after the batch was stored"),
        AfterStore::Delay(d) => {
            tokio::time::sleep(d).await;
            Json(receipt).into_response()
        }
        AfterStore::Answer => Json(receipt).into_response(),
    }
}

enum AfterStore {
    Answer,
    Fail(u16),
    Delay(std::time::Duration),
}

async fn get_batch(State(sim): State<Arc<Shared>>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    if let Err(why) = authenticate(&sim, &headers, &format!("/batches/{key}"), b"") {
        return error(StatusCode::UNAUTHORIZED, why);
    }
    let found = sim.lock().batches.iter().find(|b| b.idempotency_key == key).map(|b| b.bank_batch_id.clone());
    match found {
        Some(bank_batch_id) => Json(UploadReceipt { bank_batch_id, duplicate: true }).into_response(),
        None => error(StatusCode::NOT_FOUND, "no batch under this idempotency key"),
    }
}

async fn list_results(State(sim): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(why) = authenticate(&sim, &headers, "/results", b"") {
        return error(StatusCode::UNAUTHORIZED, why);
    }
    let names: Vec<String> = sim.lock().results.keys().cloned().collect();
    Json(names).into_response()
}

async fn get_result(State(sim): State<Arc<Shared>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    if let Err(why) = authenticate(&sim, &headers, &format!("/results/{name}"), b"") {
        return error(StatusCode::UNAUTHORIZED, why);
    }
    let bytes = sim.lock().results.get(&name).cloned();
    match bytes {
        Some(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        None => error(StatusCode::NOT_FOUND, "no such result file"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BankSim, SimConfig};
    use super::*;
    use secrecy::SecretString;

    const KEY: &str = "sim-key";

    /// Raw requests, without the gateway client, so the simulator's checks are tested alone.
    async fn post(base: &str, key: &str, ts: i64, id: Option<&str>, body: &'static [u8]) -> reqwest::Response {
        let ts = ts.to_string();
        let sig = crate::transport::gateway::sign(&SecretString::from(key), &ts, id.unwrap_or(""), body).unwrap();
        let mut req = reqwest::Client::new()
            .post(format!("{base}/batches"))
            .header(HEADER_FILE_NAME, "f.xml")
            .header(HEADER_TIMESTAMP, ts)
            .header(HEADER_SIGNATURE, sig)
            .body(body);
        if let Some(id) = id {
            req = req.header(HEADER_IDEMPOTENCY_KEY, id);
        }
        req.send().await.unwrap()
    }

    #[tokio::test]
    async fn checks_signature_timestamp_and_key_header() {
        let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
        let base = sim.base_url();
        let now = chrono::Utc::now().timestamp();
        assert_eq!(post(&base, "other", now, Some("A"), b"x").await.status(), 401);
        // A margin of 10 s either side, so a second ticking over during the test cannot flip it.
        assert_eq!(post(&base, KEY, now - 310, Some("A"), b"x").await.status(), 401);
        assert_eq!(post(&base, KEY, now + 310, Some("A"), b"x").await.status(), 401);
        assert_eq!(post(&base, KEY, now, None, b"x").await.status(), 400);
        assert!(sim.batches().is_empty());
        let ok = post(&base, KEY, now - 200, Some("A"), b"x").await;
        assert_eq!(ok.status(), 200);
        let receipt: UploadReceipt = ok.json().await.unwrap();
        assert_eq!(receipt, UploadReceipt { bank_batch_id: "SIM00000001".into(), duplicate: false });
        assert_eq!(sim.requests(), 5);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn repeated_key_gets_the_same_id_and_distinct_keys_get_new_ones() {
        let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
        let base = sim.base_url();
        let now = chrono::Utc::now().timestamp();
        let first: UploadReceipt = post(&base, KEY, now, Some("A"), b"one").await.json().await.unwrap();
        let again: UploadReceipt = post(&base, KEY, now, Some("A"), b"one").await.json().await.unwrap();
        let other: UploadReceipt = post(&base, KEY, now, Some("B"), b"two").await.json().await.unwrap();
        assert_eq!(again, UploadReceipt { bank_batch_id: first.bank_batch_id.clone(), duplicate: true });
        assert_ne!(other.bank_batch_id, first.bank_batch_id);
        let batches = sim.batches();
        assert_eq!(batches.len(), 2);
        assert_eq!((batches[0].uploads, batches[1].uploads), (2, 1));
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_the_server() {
        let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
        let base = sim.base_url();
        drop(sim);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(reqwest::Client::new().get(format!("{base}/results")).send().await.is_err());
    }
}
