//! The `aidpay` binary: parse the command line, set up logging, run; errors end here.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: sqlx hands every value between its SQLite worker
/// thread and the async threads, so memory is mostly freed on another thread than the one that
/// took it, which glibc's allocator handles slowly and mimalloc handles well.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Before any thread starts: glibc's allocator (SQLite's) keeps one arena (src/memory.rs).
    aidpay::memory::configure();
    let cli = match aidpay::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // A usage error (exit 2) in the journal, e.g. a mistyped ExecStart, at priority err;
        // anywhere else clap prints it (and --help, --version) as usual.
        Err(e) if e.use_stderr() && aidpay::telemetry::stderr_is_journal() => {
            aidpay::telemetry::print_error(e.render().to_string().trim_end());
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
        Err(e) => e.exit(),
    };
    aidpay::telemetry::init(cli.log_format);
    aidpay::tls::install_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            aidpay::telemetry::print_error(&format!("error: cannot start the runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(aidpay::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            aidpay::telemetry::print_error(&format!("error: {e:#}"));
            ExitCode::from(1)
        }
    }
}
