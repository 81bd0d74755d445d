//! Progress on a terminal for the long commands (indicatif): rows imported, payments written.
//!
//! Off unless the command turned it on ([`enable`]): only `import` and `batch` do, and only when
//! stderr is a terminal and `--json` is not given. So the daemon, scripts, tests and the
//! journal never see a bar, and stdout (the result, or the one JSON document) is never touched.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(false);

/// Turns progress on for this process when stderr is a terminal and the output is not `--json`.
pub fn enable(json: bool) {
    ON.store(!json && std::io::stderr().is_terminal(), Ordering::Relaxed);
}

/// One bar (or nothing, when progress is off); cleared from the terminal when dropped.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A counter of unknown total: `导入 grants.csv：12,345 行 (8,400/秒)`.
    pub fn counter(what: &str, unit: &str) -> Progress {
        Progress(ON.load(Ordering::Relaxed).then(|| {
            let bar = ProgressBar::new_spinner().with_message(what.to_string());
            bar.set_style(
                ProgressStyle::with_template(&format!("{{spinner}} {{msg}}：{{human_pos}} {unit} ({{per_sec}}) {{elapsed}}"))
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        }))
    }

    /// A bar towards a known total: `写批次文件 [#####   ] 50,000/100,000 笔`.
    pub fn bar(what: &str, unit: &str, total: u64) -> Progress {
        Progress(ON.load(Ordering::Relaxed).then(|| {
            let bar = ProgressBar::new(total).with_message(what.to_string());
            bar.set_style(
                ProgressStyle::with_template(&format!("{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, 剩余 {{eta}})"))
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        }))
    }

    /// Where the work stands.
    pub fn set(&self, done: u64) {
        if let Some(b) = &self.0 {
            b.set_position(done);
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_unless_enabled_and_never_with_json() {
        enable(true);
        let p = Progress::counter("导入", "行");
        assert!(p.0.is_none(), "--json: no bar");
        p.set(10);
        // Under `cargo test` stderr is captured, not a terminal.
        enable(false);
        assert_eq!(Progress::bar("写批次文件", "笔", 5).0.is_some(), std::io::stderr().is_terminal());
    }
}
