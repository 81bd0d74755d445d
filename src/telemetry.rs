//! Logs through `tracing` to stderr: readable text on a terminal, JSON lines for collectors.
//! `AIDPAY_LOG` (or `RUST_LOG`) sets the filter, `info` by default. Card and ID numbers are
//! masked by the code that logs them (their `Debug` is masked too); secrets are `SecretString`.
//!
//! Under systemd, when stderr is the journal's stream (`JOURNAL_STREAM` names stderr's device
//! and inode, as systemd sets it), every line starts with its syslog priority, `<3>` for ERROR,
//! `<4>` WARN, `<6>` INFO, `<7>` DEBUG and TRACE: journald (the unit's `SyslogLevelPrefix=true`)
//! takes it off the line and files the record at that priority, so
//! `journalctl -p err -u aidpay` shows every failed job. Anywhere else the lines are as before.

use std::io::Write;
use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber, writing to stderr (so `--json` output on stdout stays clean).
pub fn init(format: LogFormat) {
    let filter = std::env::var("AIDPAY_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn"));
    // Colours only on a terminal: journald and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let writer = Stderr { journal: stderr_is_journal() };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Prints a message that ends the program (`error: …`) on stderr, with the `<3>` (err) priority
/// when stderr is the journal.
pub fn print_error(message: &str) {
    let mut w = PrefixLines::new(std::io::stderr().lock(), stderr_is_journal().then_some(Level::ERROR));
    let _ = writeln!(w, "{message}");
}

/// The syslog priority journald files a record of this level at: 3 err, 4 warning, 6 info,
/// 7 debug (TRACE too; syslog has nothing below debug).
pub fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Whether stderr is connected to the journal: `JOURNAL_STREAM` is `<device>:<inode>` of the
/// stream systemd connected, and stderr must be that very file (a child whose stderr was
/// redirected elsewhere inherits the variable, and must not prefix its lines).
pub fn stderr_is_journal() -> bool {
    std::env::var("JOURNAL_STREAM").is_ok_and(|v| journal_stream_is_stderr(&v))
}

fn journal_stream_is_stderr(value: &str) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = value.trim().split_once(':') else { return false };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else { return false };
    // fstat(2) of fd 2, through a duplicate (closing it leaves stderr open).
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else { return false };
    std::fs::File::from(fd).metadata().is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// stderr, one writer per event; with `journal`, its lines prefixed with the event's priority.
#[derive(Clone, Copy)]
struct Stderr {
    journal: bool,
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = PrefixLines<std::io::StderrLock<'a>>;

    fn make_writer(&'a self) -> Self::Writer {
        PrefixLines::new(std::io::stderr().lock(), None)
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        PrefixLines::new(std::io::stderr().lock(), self.journal.then_some(*meta.level()))
    }
}

/// Writes through to `inner`, putting `<N>` (the level's syslog priority) before every line,
/// continuation lines of a multi-line message included, so no part of a record falls back to
/// journald's default priority (info).
struct PrefixLines<W: Write> {
    inner: W,
    prefix: Option<String>,
    at_line_start: bool,
}

impl<W: Write> PrefixLines<W> {
    fn new(inner: W, level: Option<Level>) -> Self {
        PrefixLines { inner, prefix: level.map(|l| format!("<{}>", syslog_priority(l))), at_line_start: true }
    }
}

impl<W: Write> Write for PrefixLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(prefix) = &self.prefix else { return self.inner.write(buf) };
        // Whole buffer or an error: a prefix is never written twice for one line.
        for line in buf.split_inclusive(|b| *b == b'\n') {
            if self.at_line_start {
                self.inner.write_all(prefix.as_bytes())?;
            }
            self.inner.write_all(line)?;
            self.at_line_start = line.ends_with(b"\n");
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixed(level: Option<Level>, chunks: &[&str]) -> String {
        let mut w = PrefixLines::new(Vec::new(), level);
        for c in chunks {
            w.write_all(c.as_bytes()).unwrap();
        }
        String::from_utf8(w.inner).unwrap()
    }

    #[test]
    fn every_level_gets_its_syslog_priority() {
        assert_eq!(syslog_priority(Level::ERROR), 3);
        assert_eq!(syslog_priority(Level::WARN), 4);
        assert_eq!(syslog_priority(Level::INFO), 6);
        assert_eq!(syslog_priority(Level::DEBUG), 7);
        assert_eq!(syslog_priority(Level::TRACE), 7);
    }

    #[test]
    fn every_line_of_a_record_is_prefixed_once() {
        assert_eq!(prefixed(Some(Level::ERROR), &["job failed: x\n"]), "<3>job failed: x\n");
        assert_eq!(prefixed(Some(Level::WARN), &["a\nb\n"]), "<4>a\n<4>b\n");
        // Written in pieces: the prefix only where a line starts.
        assert_eq!(prefixed(Some(Level::INFO), &["da", "emon ready\nnext", " line\n"]), "<6>daemon ready\n<6>next line\n");
        assert_eq!(prefixed(Some(Level::DEBUG), &[""]), "");
    }

    #[test]
    fn without_the_journal_lines_stay_as_they_are() {
        assert_eq!(prefixed(None, &["job failed: x\n", "b\n"]), "job failed: x\nb\n");
    }

    #[test]
    fn journal_stream_must_name_stderr_itself() {
        assert!(!journal_stream_is_stderr(""));
        assert!(!journal_stream_is_stderr("not:numbers"));
        assert!(!journal_stream_is_stderr("12345"));
        // Some other file's device and inode: not stderr.
        let f = tempfile::NamedTempFile::new().unwrap();
        use std::os::unix::fs::MetadataExt;
        let m = f.as_file().metadata().unwrap();
        assert!(!journal_stream_is_stderr(&format!("{}:{}", m.dev(), m.ino())));
    }
}
