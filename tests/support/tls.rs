//! A throwaway certificate authority and a server certificate for
//! 127.0.0.1 and localhost, for TLS tests with SSL_CERT_FILE.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::TempDir;

pub struct TestCa {
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
    dir: TempDir,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(rcgen::DnType::CommonName, "build-task test CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let mut server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        server.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
        let key = KeyPair::generate().unwrap();
        let cert = server.signed_by(&key, &ca).unwrap();
        let dir = TempDir::new("tls");
        std::fs::write(dir.path().join("ca.crt"), ca.pem()).unwrap();
        TestCa { server_cert: cert.der().clone(), server_key: key.serialize_der(), dir }
    }

    /// A PEM file holding the CA certificate (for SSL_CERT_FILE).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A directory holding the CA as `ca.crt` (for CF_SYSTEM_CERT_PATH).
    pub fn ca_dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.server_cert.clone()], key)
            .unwrap();
        Arc::new(config)
    }
}
