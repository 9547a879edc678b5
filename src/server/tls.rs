//! TLS on rustls (ring provider): the server configuration built from the web config file,
//! certificate reloading, client-certificate policies and the per-connection handshake.
//!
//! Owns: turning [`TlsSettings`] into a rustls `ServerConfig` (versions, TLS 1.2 cipher
//! suites, key-exchange groups, ALPN, client-certificate verifier), loading PEM certificates
//! and keys (and checking that they match), re-reading them when their files change, and
//! [`TlsServer::accept`]: one handshake under a deadline, answering a plain-HTTP request on
//! the TLS port the way Go's `net/http` does.
//! Does not own: parsing the YAML (`web_config`), the accept loop (`server`), or anything
//! after the handshake.
//!
//! Data enters as validated settings at start-up and as an accepted TCP stream per
//! connection, and leaves as an encrypted stream or a [`HandshakeError`].
//!
//! **Reloading.** exporter-toolkit re-reads the certificate and key on every handshake.
//! We look at the two files' modification time and size on every handshake (two `stat`
//! calls) and re-read them only when either changed, so a renewed certificate (cert-manager,
//! certbot) is served from the next connection on without a restart. A new pair that cannot
//! be loaded (half-written, key not matching) is logged and the previous pair kept until the
//! files change again. `client_ca_file` is read once, at start-up.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, SupportedKxGroup, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, NoClientAuth, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::web_config::{ClientAuth, Curve, TlsSettings, TlsVersion};

/// A certificate, key or CA file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// Occurs when a file cannot be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        /// `cert_file`, `key_file` or `client_ca_file`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Occurs when a file holds no PEM item of the needed kind, or broken PEM.
    #[error("{what} {}: {message}", path.display())]
    Pem {
        /// `cert_file`, `key_file` or `client_ca_file`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Occurs when the key is of a type rustls cannot sign with, or the certificate cannot be
    /// parsed.
    #[error("{what} {}: {source}", path.display())]
    Unusable {
        /// `cert_file` or `key_file`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
    /// Occurs when the private key does not belong to the certificate.
    #[error("key_file {} does not match the certificate in cert_file {} (private key does not match public key)", key.display(), cert.display())]
    KeyMismatch {
        /// `cert_file`.
        cert: PathBuf,
        /// `key_file`.
        key: PathBuf,
    },
    /// Occurs when a certificate in `client_ca_file` is not a usable CA certificate.
    #[error("client_ca_file {}: {source}", path.display())]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
    /// Occurs when rustls refuses the combination of settings (cannot happen with the
    /// versions and suites `web_config` lets through; kept for completeness).
    #[error("{0}")]
    Config(String),
    /// Occurs when `cipher_suites` lists no TLS 1.2 suite rustls implements.
    #[error("cipher_suites: none of the listed TLS 1.2 suites is available (available: {0})")]
    NoCipher(String),
    /// Occurs when `curve_preferences` lists only curves rustls lacks.
    #[error("curve_preferences: none of the listed curves is available (available: X25519, CurveP256, CurveP384)")]
    NoCurve,
}

/// Why a connection did not get as far as HTTP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Occurs when the client speaks plain HTTP to the TLS port (it got Go's 400 answer).
    #[error("client sent an HTTP request to an HTTPS server")]
    PlainHttp,
    /// Occurs when the handshake does not finish within the deadline.
    #[error("TLS handshake timed out")]
    Timeout,
    /// Occurs when the handshake fails (bad client certificate, no common version or cipher,
    /// connection reset...).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The TLS side of the server: a rustls configuration plus what it could not honour.
pub struct TlsServer {
    acceptor: TlsAcceptor,
    /// Settings accepted but not honoured exactly (unavailable suites or curves).
    pub notes: Vec<String>,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServer")
            .field("config", self.acceptor.config())
            .field("notes", &self.notes)
            .finish()
    }
}

impl TlsServer {
    /// Loads the certificate, key and CA files and builds the rustls configuration.
    ///
    /// # Errors
    /// [`TlsError`] for the first file that cannot be used or a setting rustls cannot honour.
    pub fn new(settings: &TlsSettings) -> Result<TlsServer, TlsError> {
        let mut notes = Vec::new();
        let provider = Arc::new(provider(settings, &mut notes)?);
        let cert = ReloadingCert::load(settings, provider.clone())?;
        let verifier = client_verifier(settings, &provider)?;
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
            (TlsVersion::Tls12, &rustls::version::TLS12),
            (TlsVersion::Tls13, &rustls::version::TLS13),
        ]
        .into_iter()
        .filter(|(v, _)| (settings.min_version..=settings.max_version).contains(v))
        .map(|(_, v)| v)
        .collect();
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(cert));
        config.ignore_client_order = settings.prefer_server_cipher_suites;
        config.alpn_protocols = if settings.http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(TlsServer {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            notes,
        })
    }

    /// Runs the handshake on `stream` within `deadline`.
    ///
    /// A client that speaks plain HTTP gets `HTTP/1.0 400 Bad Request` and "Client sent an
    /// HTTP request to an HTTPS server.", exactly what Go's server answers, instead of a TLS
    /// alert it cannot read.
    ///
    /// # Errors
    /// [`HandshakeError`] when the connection must be closed.
    pub async fn accept(
        &self,
        mut stream: TcpStream,
        deadline: Duration,
    ) -> Result<TlsStream<TcpStream>, HandshakeError> {
        let handshake = async {
            // A TLS connection starts with a handshake record (0x16); an HTTP request with
            // an upper-case method name.
            let mut first = [0u8; 1];
            if stream.peek(&mut first).await? == 1 && first[0].is_ascii_uppercase() {
                stream
                    .write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
                    .await?;
                let _ = stream.shutdown().await;
                return Err(HandshakeError::PlainHttp);
            }
            Ok(self.acceptor.accept(stream).await?)
        };
        tokio::time::timeout(deadline, handshake)
            .await
            .map_err(|_| HandshakeError::Timeout)?
    }
}

/// The ring provider narrowed to the configured TLS 1.2 suites and key-exchange groups.
fn provider(settings: &TlsSettings, notes: &mut Vec<String>) -> Result<CryptoProvider, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(wanted) = &settings.cipher_suites {
        let all = std::mem::take(&mut provider.cipher_suites);
        let is_tls12 = |s: &rustls::SupportedCipherSuite| s.tls13().is_none();
        let mut suites: Vec<_> = all.iter().filter(|s| !is_tls12(s)).copied().collect();
        for &(id, name) in wanted {
            match all
                .iter()
                .find(|s| is_tls12(s) && u16::from(s.suite()) == id)
            {
                Some(s) => suites.push(*s),
                // Go ignores TLS 1.3 names here too: its 1.3 suites are not configurable.
                None if (0x1301..=0x1303).contains(&id) => {}
                None => notes.push(format!(
                    "cipher suite {name} is not implemented by rustls; ignored"
                )),
            }
        }
        if !suites.iter().any(is_tls12) && settings.min_version <= TlsVersion::Tls12 {
            let available: Vec<String> = all
                .iter()
                .filter(|s| is_tls12(s))
                .map(|s| format!("{:?}", s.suite()))
                .collect();
            return Err(TlsError::NoCipher(available.join(", ")));
        }
        provider.cipher_suites = suites;
    }
    if let Some(curves) = &settings.curves {
        use rustls::crypto::ring::kx_group;
        let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
        for curve in curves {
            match curve {
                Curve::X25519 => groups.push(kx_group::X25519),
                Curve::P256 => groups.push(kx_group::SECP256R1),
                Curve::P384 => groups.push(kx_group::SECP384R1),
                Curve::P521 => notes.push(
                    "curve CurveP521 is not implemented by rustls' ring provider; ignored".into(),
                ),
            }
        }
        if groups.is_empty() {
            return Err(TlsError::NoCurve);
        }
        provider.kx_groups = groups;
    }
    Ok(provider)
}

fn client_verifier(
    settings: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let roots = settings
        .client_ca_file
        .as_deref()
        .map(read_client_cas)
        .transpose()?;
    let webpki = |roots: RootCertStore, optional: bool| {
        let builder =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
        let builder = if optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        builder.build().map_err(|e| TlsError::Config(e.to_string()))
    };
    let any = |mandatory: bool, roots: Option<RootCertStore>| -> Arc<dyn ClientCertVerifier> {
        Arc::new(AnyClientCert {
            mandatory,
            hints: roots.map(|r| r.subjects()).unwrap_or_default(),
            algorithms: provider.signature_verification_algorithms,
        })
    };
    Ok(match (settings.client_auth, roots) {
        (ClientAuth::None, _) => Arc::new(NoClientAuth),
        (ClientAuth::Request, roots) => any(false, roots),
        (ClientAuth::RequireAny, roots) => any(true, roots),
        (ClientAuth::VerifyIfGiven, Some(roots)) => webpki(roots, true)?,
        (ClientAuth::RequireAndVerify, Some(roots)) => webpki(roots, false)?,
        (ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify, None) => {
            return Err(TlsError::Config(
                "a verifying client_auth_type needs client_ca_file".into(),
            ))
        }
    })
}

fn read_client_cas(path: &Path) -> Result<RootCertStore, TlsError> {
    const WHAT: &str = "client_ca_file";
    let certs = read_certs(WHAT, path)?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|source| TlsError::ClientCa {
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(roots)
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |message: String| TlsError::Pem {
        what,
        path: path.to_owned(),
        message,
    };
    let certs = CertificateDer::pem_slice_iter(&read(what, path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error("no PEM certificate found".into()));
    }
    Ok(certs)
}

/// Reads `cert_file` and `key_file` and checks that they belong together.
fn load_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = read_certs("cert_file", cert_file)?;
    let key =
        PrivateKeyDer::from_pem_slice(&read("key_file", key_file)?).map_err(|e| TlsError::Pem {
            what: "key_file",
            path: key_file.to_owned(),
            message: match e {
                rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key found".into(),
                e => e.to_string(),
            },
        })?;
    let unusable = |what, path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Unusable { what, path, source }
    };
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(unusable("key_file", key_file))?;
    let pair = CertifiedKey::new(chain, signer);
    match pair.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(pair)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
            cert: cert_file.to_owned(),
            key: key_file.to_owned(),
        }),
        Err(e) => Err(unusable("cert_file", cert_file)(e)),
    }
}

/// What identifies a version of a file cheaply: modification time and size.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Serves the certificate and key, re-reading them when either file changes.
struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    // A std mutex: held only for two `stat` calls (and a reload when the files changed),
    // never across an await; handshakes are short and run on the connection's own task.
    current: Mutex<(Stamp, Stamp, Arc<CertifiedKey>)>,
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    fn load(settings: &TlsSettings, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let stamps = (stamp(&settings.cert_file), stamp(&settings.key_file));
        let pair = load_pair(&settings.cert_file, &settings.key_file, &provider)?;
        Ok(ReloadingCert {
            cert_file: settings.cert_file.clone(),
            key_file: settings.key_file.clone(),
            provider,
            current: Mutex::new((stamps.0, stamps.1, Arc::new(pair))),
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let stamps = (stamp(&self.cert_file), stamp(&self.key_file));
        let mut current = self
            .current
            .lock()
            .expect("the certificate lock is never poisoned: nothing panics while holding it");
        if (current.0, current.1) != stamps {
            // Remember the new stamps either way: a broken pair is reported once, and tried
            // again when the files change again (the rest of a rotation).
            current.0 = stamps.0;
            current.1 = stamps.1;
            match load_pair(&self.cert_file, &self.key_file, &self.provider) {
                Ok(pair) => {
                    current.2 = Arc::new(pair);
                    info!(cert_file = %self.cert_file.display(), key_file = %self.key_file.display(), "TLS certificate reloaded");
                }
                Err(error) => {
                    warn!(%error, "TLS certificate files changed but cannot be loaded; still serving the previous certificate");
                }
            }
        }
        Some(current.2.clone())
    }
}

/// `RequestClientCert` and `RequireAnyClientCert`: any certificate is accepted without
/// checking who issued it (as in Go), but the client must still prove it holds the key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
