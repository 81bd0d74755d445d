//! Talking to systemd (`Type=notify`): `READY=1`, `STATUS=…`, `WATCHDOG=1`, `STOPPING=1`.
//! Every call is a no-op when `NOTIFY_SOCKET` is unset (the command line, tests), and a failure
//! to notify is logged, never fatal.

use sd_notify::NotifyState;
use std::time::Duration;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("systemd notification failed: {e}");
    }
}

/// `READY=1`: config parsed, migrations run, folders writable, the lock taken.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `STATUS=…`: one line `systemctl status` shows.
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// `WATCHDOG=1`: the scheduler loop is alive.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// `STOPPING=1`.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// How often to send `WATCHDOG=1`: half the unit's `WatchdogSec=` (sd_watchdog_enabled(3)),
/// `None` when the watchdog is off or meant for another process.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2).filter(|d| !d.is_zero())
}
