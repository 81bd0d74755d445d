//! HTTPS for the console when `[console] tls_cert` and `tls_key` are set.

use axum::Router;
use std::future::Future;
use std::path::Path;

/// The TLS configuration from PEM files.
pub struct Acceptor;

pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<Acceptor> {
    anyhow::bail!(
        "console.tls_cert {} / tls_key {}: 本版本的工作台不直接提供 HTTPS，请按 README 在前面配置 nginx 反向代理 (TLS termination by a reverse proxy)",
        cert.display(),
        key.display()
    )
}

pub async fn serve(
    _listener: tokio::net::TcpListener,
    _acceptor: Acceptor,
    _app: Router,
    _shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    unreachable!("acceptor() refuses")
}
