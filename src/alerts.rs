//! Alerts to finance staff: after a job run, the exceptions raised since the last alert go out as
//! ONE text message to a group robot's webhook (企业微信 WeCom or 钉钉 DingTalk), e.g.
//! "aidpay: 新增 3 条异常（银行拒绝 2，卡号无效 1），请在 aidpay exceptions list 查看".
//!
//! The exceptions are found by id: every exception with an id above the last one alerted (the
//! high-water mark, kept in `job_runs` as job `alert`). A message that cannot be delivered after
//! `alerts.max_attempts` tries is recorded in `job_runs` (`alert`, `error`) and the mark stays
//! where it was, so the same exceptions go out with the next job's alert: never lost silently.
//! The webhook URL carries the robot's key: only its host is ever logged.

use crate::config::{AlertKind, Alerts, url_host};
use crate::exceptions::ExceptionKind;
use crate::store::{JobRun, NewExceptionRef, Store, StoreError};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::Mutex;

/// The job name alert outcomes are recorded under in `job_runs`.
pub const ALERT_JOB: &str = "alert";

/// Why an alert could not go out.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("webhook {host}: {reason} (after {attempts} attempts)")]
    Send { host: String, reason: String, attempts: u32 },
}

/// Sends the alerts of one daemon; jobs share it, one alert at a time.
pub struct Alerter {
    cfg: Alerts,
    client: reqwest::Client,
    /// Exceptions up to this id have been alerted (or existed before the daemon started).
    mark: Mutex<i64>,
}

impl Alerter {
    /// Picks up the high-water mark: the last alert sent, else the exceptions existing now.
    pub async fn new(cfg: Alerts, store: &Store) -> Result<Alerter, StoreError> {
        let last_ok = store
            .runs_of(ALERT_JOB, 50)
            .await?
            .into_iter()
            .filter(|r| r.outcome.as_deref() == Some("ok"))
            .find_map(|r| r.detail.as_deref().and_then(mark_of));
        let mark = match last_ok {
            Some(m) => m,
            None => store.max_exception_id().await?,
        };
        let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap_or_default();
        Ok(Alerter { cfg, client, mark: Mutex::new(mark) })
    }

    /// The webhook's host (the only part that may be shown).
    pub fn host(&self) -> String {
        url_host(self.cfg.webhook_url.expose_secret())
    }

    /// Sends one message for the exceptions raised since the last alert, if any. Returns how
    /// many it reported.
    pub async fn after_job(&self, store: &Store, job: &str) -> Result<usize, AlertError> {
        let mut mark = self.mark.lock().await;
        let new = store.open_exceptions_after(*mark).await?;
        let Some(last) = new.last().map(|e| e.id) else { return Ok(0) };
        let text = message(&new);
        let started = crate::scheduler::wall_clock_text();
        let sent = self.send(&text).await;
        let finished = crate::scheduler::wall_clock_text();
        let (outcome, detail) = match &sent {
            Ok(()) => ("ok", format!("up_to={last}; after {job}: {text}")),
            Err(e) => ("error", format!("not delivered (exceptions #{}–#{last}, after {job}): {e}", new[0].id)),
        };
        store
            .record_run(&JobRun {
                job: ALERT_JOB.into(),
                started_at: started,
                finished_at: Some(finished),
                outcome: Some(outcome.into()),
                detail: Some(detail),
            })
            .await?;
        sent?;
        tracing::info!(host = %self.host(), new_exceptions = new.len(), "alert sent to finance staff");
        *mark = last;
        Ok(new.len())
    }

    /// Sends one message that is not about exceptions (the period reports a job wrote), recorded
    /// in `job_runs` like an alert; the exceptions' mark is left alone.
    pub async fn notify(&self, store: &Store, job: &str, text: &str) -> Result<(), AlertError> {
        let _one_at_a_time = self.mark.lock().await;
        let started = crate::scheduler::wall_clock_text();
        let sent = self.send(text).await;
        let (outcome, detail) = match &sent {
            Ok(()) => ("ok", format!("notice after {job}: {text}")),
            Err(e) => ("error", format!("notice not delivered (after {job}: {text}): {e}")),
        };
        store
            .record_run(&JobRun {
                job: ALERT_JOB.into(),
                started_at: started,
                finished_at: Some(crate::scheduler::wall_clock_text()),
                outcome: Some(outcome.into()),
                detail: Some(detail),
            })
            .await?;
        sent
    }

    async fn send(&self, text: &str) -> Result<(), AlertError> {
        let body = payload(self.cfg.kind, text);
        let host = self.host();
        let mut wait = self.cfg.backoff;
        let mut last = String::new();
        for attempt in 1..=self.cfg.max_attempts {
            match self.post(&body).await {
                Ok(()) => return Ok(()),
                Err(reason) => {
                    tracing::warn!(host = %host, attempt, max_attempts = self.cfg.max_attempts, "alert not delivered: {reason}");
                    last = reason;
                }
            }
            if attempt < self.cfg.max_attempts {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(300));
            }
        }
        Err(AlertError::Send { host, reason: last, attempts: self.cfg.max_attempts })
    }

    /// One POST. Both robots answer HTTP 200 with `{"errcode":0,…}` on success and a non-zero
    /// errcode (bad key, keyword missing, rate limit) otherwise.
    async fn post(&self, body: &serde_json::Value) -> Result<(), String> {
        // reqwest's errors can carry the URL: keep only their kind.
        let resp = self.client.post(self.cfg.webhook_url.expose_secret()).json(body).send().await.map_err(describe)?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(code) = v.get("errcode").and_then(|c| c.as_i64())
            && code != 0
        {
            let msg = v.get("errmsg").and_then(|m| m.as_str()).unwrap_or("");
            return Err(format!("errcode {code}: {}", msg.chars().take(120).collect::<String>()));
        }
        Ok(())
    }
}

fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        format!("request failed: {e}")
    }
}

fn mark_of(detail: &str) -> Option<i64> {
    detail.strip_prefix("up_to=")?.split(';').next()?.trim().parse().ok()
}

/// The Chinese text: the count, then per kind (most first), then where to look.
pub fn message(new: &[NewExceptionRef]) -> String {
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for e in new {
        *by_kind.entry(e.kind.as_str()).or_default() += 1;
    }
    let mut kinds: Vec<(&str, usize)> = by_kind.into_iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = kinds
        .iter()
        .map(|(k, n)| format!("{} {n}", ExceptionKind::parse(k).map(|k| k.label_zh()).unwrap_or(k)))
        .collect();
    format!("aidpay: 新增 {} 条异常（{}），请在 aidpay exceptions list 查看", new.len(), parts.join("，"))
}

/// The group robot's JSON for a text message (same shape for WeCom and DingTalk).
pub fn payload(kind: AlertKind, text: &str) -> serde_json::Value {
    match kind {
        AlertKind::WeCom | AlertKind::DingTalk => serde_json::json!({ "msgtype": "text", "text": { "content": text } }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_kind_most_first() {
        let e = |id, kind: &str| NewExceptionRef { id, kind: kind.into() };
        let text = message(&[e(1, "invalid_card"), e(2, "bank_rejected"), e(3, "bank_rejected")]);
        assert_eq!(text, "aidpay: 新增 3 条异常（银行拒绝 2，卡号无效 1），请在 aidpay exceptions list 查看");
        assert_eq!(mark_of("up_to=14; after batch: …"), Some(14));
    }
}
