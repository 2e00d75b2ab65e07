//! Transport security: each install's self-signed host certificate, and a client-side
//! verifier that trusts a certificate only by its SHA-256 fingerprint (from the invite
//! link, the mDNS TXT record, or a pin from an earlier visit), like SSH known_hosts.
//!
//! There is no CA on a LAN, so names are not checked; the fingerprint is the identity.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::Digest;

const CERT_FILE: &str = "host-cert.der";
const KEY_FILE: &str = "host-key.der";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read or write the host certificate in {path}: {detail}")]
    Io { path: PathBuf, detail: String },
    #[error("cannot create the host certificate: {0}")]
    Generate(String),
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("the host's key {key} or certificate {cert} is damaged ({detail}); move both aside to create a new certificate (members will then be warned that it changed)")]
    Damaged {
        key: PathBuf,
        cert: PathBuf,
        detail: String,
    },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Lowercase hex SHA-256 of a certificate's DER bytes.
pub fn fingerprint(cert_der: &[u8]) -> String {
    sha2::Sha256::digest(cert_der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fingerprint as users may type or paste it: hex, with or without `:` separators.
pub fn normalize_fingerprint(fp: &str) -> Option<String> {
    let hex: String = fp
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

/// `ab:cd:…`, grouped for reading aloud or comparing by eye.
pub fn display_fingerprint(fp: &str) -> String {
    fp.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// This install's host certificate, created on first host and reused ever after, so
/// its fingerprint (and every pin of it) stays valid.
#[derive(Clone)]
pub struct HostCert {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
    fingerprint: String,
}

impl std::fmt::Debug for HostCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostCert")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl HostCert {
    pub fn load_or_create(data_dir: &Path) -> Result<HostCert, TlsError> {
        let (cert_path, key_path) = (data_dir.join(CERT_FILE), data_dir.join(KEY_FILE));
        let io = |path: &Path, e: std::io::Error| TlsError::Io {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        if cert_path.exists() && key_path.exists() {
            let cert = std::fs::read(&cert_path).map_err(|e| io(&cert_path, e))?;
            let key = std::fs::read(&key_path).map_err(|e| io(&key_path, e))?;
            let loaded = HostCert::from_der(cert, key);
            // Found now, with the files named, rather than as a bare rustls error later.
            loaded.acceptor().map_err(|e| TlsError::Damaged {
                key: key_path.clone(),
                cert: cert_path.clone(),
                detail: e.to_string(),
            })?;
            return Ok(loaded);
        }
        let generated = rcgen::generate_simple_self_signed(vec!["hearth.local".to_string()])
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        let cert = generated.cert.der().to_vec();
        let key = generated.signing_key.serialize_der();
        std::fs::create_dir_all(data_dir).map_err(|e| io(data_dir, e))?;
        write_private(&key_path, &key).map_err(|e| io(&key_path, e))?;
        std::fs::write(&cert_path, &cert).map_err(|e| io(&cert_path, e))?;
        tracing::info!(fingerprint = %fingerprint(&cert), "created the host certificate");
        Ok(HostCert::from_der(cert, key))
    }

    fn from_der(cert: Vec<u8>, key: Vec<u8>) -> HostCert {
        HostCert {
            fingerprint: fingerprint(&cert),
            cert: CertificateDer::from(cert),
            key,
        }
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], key)?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Trusts exactly one fingerprint, or (with none expected) whatever is presented, which
/// the caller then pins. Records what was presented either way, so a refusal can show
/// both fingerprints.
#[derive(Debug)]
pub struct PinVerifier {
    expected: Option<String>,
    presented: Mutex<Option<String>>,
    provider: Arc<CryptoProvider>,
}

impl PinVerifier {
    pub fn new(expected: Option<String>) -> Arc<PinVerifier> {
        Arc::new(PinVerifier {
            expected,
            presented: Mutex::new(None),
            provider: provider(),
        })
    }

    /// The fingerprint the server presented in the last handshake.
    pub fn presented(&self) -> Option<String> {
        self.presented
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn client_config(self: &Arc<Self>) -> Result<rustls::ClientConfig, TlsError> {
        Ok(rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(self) as Arc<dyn ServerCertVerifier>)
            .with_no_client_auth())
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity);
        *self.presented.lock().unwrap_or_else(|p| p.into_inner()) = Some(presented.clone());
        match &self.expected {
            Some(expected) if *expected != presented => Err(rustls::Error::General(format!(
                "certificate fingerprint mismatch: expected {expected}, presented {presented}"
            ))),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    // The handshake signatures are still checked: the peer must hold the key of the
    // certificate whose fingerprint matched.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The server name sent in the handshake; certificates are matched by fingerprint, so
/// it only has to be syntactically valid.
pub fn server_name() -> ServerName<'static> {
    ServerName::DnsName(
        rustls::pki_types::DnsName::try_from("hearth.local")
            .expect("valid DNS name")
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = HostCert::load_or_create(dir.path()).unwrap();
        let b = HostCert::load_or_create(dir.path()).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        let other = HostCert::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert_ne!(a.fingerprint(), other.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is private to its owner");
        }
    }

    #[test]
    fn a_damaged_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        HostCert::load_or_create(dir.path()).unwrap();
        std::fs::write(dir.path().join(KEY_FILE), b"garbage, not PKCS#8").unwrap();
        let Err(err) = HostCert::load_or_create(dir.path()) else {
            panic!("a damaged file was accepted")
        };
        assert!(matches!(err, TlsError::Damaged { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(&dir.path().join(KEY_FILE).display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("move both aside"), "{msg}");
    }

    #[test]
    fn fingerprints_normalize() {
        let fp = "AB:".repeat(31) + "AB";
        assert_eq!(normalize_fingerprint(&fp), Some("ab".repeat(32)));
        assert_eq!(normalize_fingerprint("abc"), None);
        assert_eq!(display_fingerprint("abcd"), "ab:cd");
    }
}
