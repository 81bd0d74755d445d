//! TLS for aidpay's HTTPS clients (the bank gateways, the alert robot): rustls with the `ring`
//! crypto provider and the system's certificate store (rustls-platform-verifier, so an internal
//! CA installed on the server is trusted).
//!
//! reqwest is built with `rustls-no-provider` (its default, aws-lc-rs, needs cmake to build), so
//! the provider is installed process-wide before the first client is built: every
//! `reqwest::Client` in aidpay comes from [`client_builder`] (the binary also installs it at
//! start, see [`install_provider`]).

use std::sync::Once;

/// Makes `ring` the process's default rustls provider (once; a provider installed earlier, by
/// whatever embeds the library, is left as it is).
pub fn install_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// `reqwest::Client::builder()`, with the TLS provider installed first.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_provider();
    reqwest::Client::builder()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_client_builds_with_the_ring_provider() {
        let client = super::client_builder().build();
        assert!(client.is_ok(), "{client:?}");
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
