//! TLS for the shared agent: a rustls crypto provider trimmed to what a
//! client that verifies servers runs, and the connector that trusts
//! Mozilla's roots plus the agent's own.
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
//!
//! ureq's own rustls connector trusts either whole DER certificates or
//! webpki-roots alone. [`Connector`] is that connector with one change: it
//! trusts webpki-roots' trust anchors (Mozilla's roots as subject and key,
//! without the rest of each certificate) together with the certificates in
//! the agent's `TlsConfig` root certs, which `http::agent` read from
//! SSL_CERT_FILE and CF_SYSTEM_CERT_PATH.

use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};

use rustls::crypto::ring::cipher_suite as suite;
use rustls::crypto::{CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::SigningKey;
use rustls::{ClientConfig, ClientConnection, RootCertStore, SignatureScheme, StreamOwned};
use ureq::tls::RootCerts;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector as UreqConnector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};
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

/// Wraps an https connection in TLS, as ureq's `RustlsConnector` does,
/// trusting Mozilla's roots and the agent's root certificates. The rustls
/// configuration is made on the first connection and kept: an agent's
/// trust does not change.
#[derive(Debug, Default)]
pub struct Connector {
    config: OnceLock<Arc<ClientConfig>>,
}

impl<In: Transport> UreqConnector<In> for Connector {
    type Out = Either<In, TlsTransport>;

    fn connect(&self, details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else { return Ok(None) };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let config = self.config.get_or_init(|| client_config(details.config.tls_config().root_certs())).clone();
        let host = details.uri.host().unwrap_or("");
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let name = ServerName::try_from(bare).map_err(|_| ureq::Error::Tls("not a TLS server name"))?.to_owned();
        let mut conn = ClientConnection::new(config, name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(TlsTransport { buffers, stream: StreamOwned { conn, sock } })))
    }
}

/// Mozilla's roots and the agent's extra certificates (`RootCerts::Specific`),
/// on our provider, TLS 1.2 and 1.3, no client certificate.
fn client_config(extra: &RootCerts) -> Arc<ClientConfig> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let RootCerts::Specific(certs) = extra {
        roots.add_parsable_certificates(certs.iter().map(|c| CertificateDer::from(c.der())));
    }
    let config = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .expect("the provider has suites for TLS 1.2 and 1.3 (a unit test holds it to that)")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// An https connection: ureq's buffers over a rustls stream.
pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
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

    /// A server certificate for `localhost`, and ring's default provider's
    /// server config with it, limited to `version`.
    fn server(version: &'static rustls::SupportedProtocolVersion) -> (CertificateDer<'static>, rustls::ServerConfig) {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen makes a certificate");
        let cert = certified.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[version])
            .and_then(|b| b.with_no_client_auth().with_single_cert(vec![cert.clone()], key))
            .expect("a server config");
        (cert, server)
    }

    /// A handshake in memory between `client` and `server` for `localhost`:
    /// the version and suite chosen, or the error either side hit.
    fn handshake_between(
        client: Arc<ClientConfig>,
        server: rustls::ServerConfig,
    ) -> Result<(rustls::ProtocolVersion, rustls::CipherSuite), rustls::Error> {
        let name = ServerName::try_from("localhost").expect("a DNS name");
        let mut client = ClientConnection::new(client, name)?;
        let mut server = rustls::ServerConnection::new(Arc::new(server))?;
        for _ in 0..10 {
            let mut bytes = Vec::new();
            client.write_tls(&mut bytes).expect("client writes");
            server.read_tls(&mut &bytes[..]).expect("server reads");
            server.process_new_packets()?;
            bytes.clear();
            server.write_tls(&mut bytes).expect("server writes");
            client.read_tls(&mut &bytes[..]).expect("client reads");
            client.process_new_packets()?;
            if !client.is_handshaking() && !server.is_handshaking() {
                let version = client.protocol_version().expect("a version after the handshake");
                return Ok((version, client.negotiated_cipher_suite().expect("a suite after the handshake").suite()));
            }
        }
        panic!("the handshake did not finish in 10 round trips");
    }

    /// A handshake between a client on `provider()` that trusts the server's
    /// certificate and a server on ring's default provider, limited to
    /// `version`; the suite chosen.
    fn handshake(version: &'static rustls::SupportedProtocolVersion) -> rustls::CipherSuite {
        let (cert, server) = server(version);
        let mut roots = RootCertStore::empty();
        roots.add(cert).expect("the certificate is a usable root");
        let client = ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .expect("a client config")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (chosen, suite) = handshake_between(Arc::new(client), server).expect("a handshake");
        assert_eq!(chosen, version.version);
        suite
    }

    #[test]
    fn the_connector_trusts_the_agent_s_certificates_beside_mozilla_s_roots() {
        let (cert, server_config) = server(&rustls::version::TLS13);
        let extra = RootCerts::new_with_certs(&[ureq::tls::Certificate::from_der(&cert).to_owned()]);
        assert!(handshake_between(client_config(&extra), server_config.clone()).is_ok());
        // Without it, only Mozilla's roots: the same server is refused.
        let err = handshake_between(client_config(&RootCerts::Specific(Arc::new(Vec::new()))), server_config);
        assert!(
            matches!(err, Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer))),
            "{err:?}"
        );
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
