//! The rustls crypto provider: ring's, less what a client that verifies
//! servers never runs.
//!
//! `rustls::crypto::ring::default_provider()` names every cipher suite and a
//! key loader for client certificates, so the linker keeps all of it. This
//! provider lists its parts one by one instead, and two things stay out:
//!
//! - ChaCha20-Poly1305, ring's largest assembly. Every TLS 1.3 server
//!   offers TLS_AES_128_GCM_SHA256 (RFC 8446, 9.1 makes it mandatory) and
//!   TLS 1.2 servers offer an ECDHE AES-GCM suite; rustls already put
//!   AES-GCM first, so it is what every handshake chose anyway.
//! - Private-key signing (RSA, ECDSA, Ed25519 and their tables). Nothing
//!   here sends a client certificate (`with_no_client_auth`), so no key is
//!   ever loaded.
//!
//! Key exchange groups and the signature algorithms that verify servers'
//! certificates are the same as ring's default provider's.

use std::sync::Arc;

use rustls::SignatureScheme;
use rustls::crypto::ring::cipher_suite as suite;
use rustls::crypto::{CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms};
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::SigningKey;
use webpki::ring as alg;

/// The provider the shared agent uses.
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            suite::TLS13_AES_256_GCM_SHA384,
            suite::TLS13_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ],
        kx_groups: rustls::crypto::ring::DEFAULT_KX_GROUPS.to_vec(),
        signature_verification_algorithms: SIGNATURES,
        secure_random: &Ring,
        key_provider: &NoKeys,
    }
}

/// The same table as rustls's ring provider (rustls 0.23, crypto/ring/mod.rs).
static SIGNATURES: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        alg::ECDSA_P256_SHA256,
        alg::ECDSA_P256_SHA384,
        alg::ECDSA_P384_SHA256,
        alg::ECDSA_P384_SHA384,
        alg::ED25519,
        alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        alg::RSA_PKCS1_2048_8192_SHA256,
        alg::RSA_PKCS1_2048_8192_SHA384,
        alg::RSA_PKCS1_2048_8192_SHA512,
        alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    mapping: &[
        // For TLS 1.2 the curve is not fixed by the scheme; for TLS 1.3 it is.
        (SignatureScheme::ECDSA_NISTP384_SHA384, &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384]),
        (SignatureScheme::ECDSA_NISTP256_SHA256, &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256]),
        (SignatureScheme::ED25519, &[alg::ED25519]),
        (SignatureScheme::RSA_PSS_SHA512, &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY]),
        (SignatureScheme::RSA_PSS_SHA384, &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY]),
        (SignatureScheme::RSA_PSS_SHA256, &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[alg::RSA_PKCS1_2048_8192_SHA512]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[alg::RSA_PKCS1_2048_8192_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[alg::RSA_PKCS1_2048_8192_SHA256]),
    ],
};

/// ring's system random source, as the default provider uses it.
#[derive(Debug)]
struct Ring;

impl SecureRandom for Ring {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        use ring::rand::SecureRandom as _;
        ring::rand::SystemRandom::new().fill(buf).map_err(|_| GetRandomFailed)
    }
}

/// Refuses every private key: no client certificate is ever configured.
#[derive(Debug)]
struct NoKeys;

impl KeyProvider for NoKeys {
    fn load_private_key(&self, _key: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        Err(rustls::Error::General("build-task loads no private keys".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_verifies_with_every_algorithm_rings_default_provider_has() {
        let ring = rustls::crypto::ring::default_provider();
        let ours = provider();
        // WebPkiSupportedAlgorithms' own Debug leaves `all` out; spell out both parts.
        let describe = |a: &WebPkiSupportedAlgorithms| {
            let mapping: Vec<_> = a.mapping.iter().map(|(scheme, algs)| format!("{scheme:?} {algs:?}")).collect();
            format!("{:?} {mapping:?}", a.all)
        };
        assert_eq!(
            describe(&ours.signature_verification_algorithms),
            describe(&ring.signature_verification_algorithms)
        );
        assert_eq!(ours.signature_verification_algorithms.all.len(), 14);
        let names = |p: &CryptoProvider| p.kx_groups.iter().map(|g| g.name()).collect::<Vec<_>>();
        assert_eq!(names(&ours), names(&ring));
    }

    #[test]
    fn the_provider_offers_ring_s_aes_gcm_suites_in_ring_s_order_and_no_chacha() {
        let aes_gcm: Vec<_> = rustls::crypto::ring::default_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .filter(|s| !format!("{s:?}").contains("CHACHA"))
            .collect();
        let ours: Vec<_> = provider().cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(ours, aes_gcm);
        assert_eq!(ours.len(), 6);
    }

    /// A handshake in memory between a client on `provider()` and a server
    /// on ring's default provider, limited to `version`; the suite chosen.
    fn handshake(version: &'static rustls::SupportedProtocolVersion) -> rustls::CipherSuite {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen makes a certificate");
        let cert = certified.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[version])
            .and_then(|b| b.with_no_client_auth().with_single_cert(vec![cert.clone()], key))
            .expect("a server config");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).expect("the certificate is a usable root");
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .expect("a client config")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("a DNS name");
        let mut client = rustls::ClientConnection::new(Arc::new(client), name).expect("a client connection");
        let mut server = rustls::ServerConnection::new(Arc::new(server)).expect("a server connection");
        for _ in 0..10 {
            let mut bytes = Vec::new();
            client.write_tls(&mut bytes).expect("client writes");
            server.read_tls(&mut &bytes[..]).expect("server reads");
            server.process_new_packets().expect("the server accepts the client");
            bytes.clear();
            server.write_tls(&mut bytes).expect("server writes");
            client.read_tls(&mut &bytes[..]).expect("client reads");
            client.process_new_packets().expect("the client accepts the server");
            if !client.is_handshaking() && !server.is_handshaking() {
                assert_eq!(client.protocol_version(), Some(version.version));
                return client.negotiated_cipher_suite().expect("a suite after the handshake").suite();
            }
        }
        panic!("the handshake did not finish in 10 round trips");
    }

    #[test]
    fn a_tls_1_3_server_is_verified_and_agrees_on_aes_gcm() {
        assert_eq!(handshake(&rustls::version::TLS13), rustls::CipherSuite::TLS13_AES_256_GCM_SHA384);
    }

    #[test]
    fn a_tls_1_2_server_is_verified_and_agrees_on_ecdhe_aes_gcm() {
        assert_eq!(handshake(&rustls::version::TLS12), rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384);
    }

    #[test]
    fn the_provider_serves_tls_1_2_and_1_3_and_refuses_private_keys() {
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider()));
        assert!(builder.with_protocol_versions(rustls::ALL_VERSIONS).is_ok());
        let key = PrivateKeyDer::Pkcs8(vec![0x30, 0x00].into());
        assert!(provider().key_provider.load_private_key(key).is_err());
    }
}
