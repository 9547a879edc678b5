//! Remote-write settings: the `--remote-write.*` flags, the config file's `remote_write:`
//! section, and their validation into [`RemoteWriteConfig`].
//!
//! Owns: [`RemoteWriteArgs`] (flattened into `config::Args`), [`RemoteWriteFile`] (a section
//! of `config_file::ConfigFile`), and [`build`], which merges both: every flag URL is an
//! endpoint with the flags' options, every file endpoint comes in addition with its own; the
//! file's `interval`, `external_labels` and queue settings override the flags'.
//! Does not own: sending (see `sender`).
//!
//! Everything is checked at start-up (URLs, headers, durations, TLS files, credential files
//! readable), so a typo is an error, not a silent lane that never sends.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use hyper::Uri;
use serde::Deserialize;

/// The `--remote-write.*` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteWriteArgs {
    /// Remote-Write 1.0 endpoint to send the whole store to every interval (repeatable; each
    /// URL gets its own queue), e.g. `http://mimir:9009/api/v1/push`.
    #[arg(long = "remote-write.url")]
    pub urls: Vec<String>,
    /// How often the whole store is sent (one timestamp per send).
    #[arg(long = "remote-write.interval", default_value = "15s")]
    pub interval: String,
    /// Time allowed for one request (connect, send, answer).
    #[arg(long = "remote-write.timeout", default_value = "30s")]
    pub timeout: String,
    /// Extra request header `Name: value` (repeatable), e.g. `X-Scope-OrgID: team-a`.
    #[arg(long = "remote-write.header")]
    pub headers: Vec<String>,
    /// Basic auth user name.
    #[arg(long = "remote-write.basic-auth.username", default_value = "")]
    pub basic_auth_username: String,
    /// File holding the basic auth password (re-read every interval).
    #[arg(long = "remote-write.basic-auth.password-file", default_value = "")]
    pub basic_auth_password_file: String,
    /// File holding a bearer token (re-read every interval).
    #[arg(long = "remote-write.bearer-token-file", default_value = "")]
    pub bearer_token_file: String,
    /// CA certificates (PEM) to verify https endpoints with, instead of the system's.
    #[arg(long = "remote-write.tls.ca-file", default_value = "")]
    pub tls_ca_file: String,
    /// Client certificate (PEM) for https endpoints.
    #[arg(long = "remote-write.tls.cert-file", default_value = "")]
    pub tls_cert_file: String,
    /// Client certificate key (PEM).
    #[arg(long = "remote-write.tls.key-file", default_value = "")]
    pub tls_key_file: String,
    /// Do not verify https endpoints' certificates. DANGEROUS.
    #[arg(long = "remote-write.tls.insecure-skip-verify")]
    pub tls_insecure: bool,
    /// Label `name=value` added to every series lacking it (repeatable).
    #[arg(long = "remote-write.external-label")]
    pub external_labels: Vec<String>,
    /// Retry requests answered 429 (else they are dropped like other 4xx).
    #[arg(long = "remote-write.retry-on-http-429", default_value_t = true, action = clap::ArgAction::Set)]
    pub retry_on_429: bool,
    /// Ticks waiting per URL while one is being sent; when full, the oldest is dropped.
    #[arg(long = "remote-write.queue-ticks", default_value_t = 2)]
    pub queue_ticks: usize,
    /// Most series (samples) in one request.
    #[arg(long = "remote-write.max-series-per-request", default_value_t = 2000)]
    pub max_series_per_request: usize,
    /// Most uncompressed bytes in one request.
    #[arg(long = "remote-write.max-bytes-per-request", default_value_t = 4 << 20)]
    pub max_bytes_per_request: usize,
}

impl RemoteWriteArgs {
    /// The flags as given, for `/api/v1/status`.
    #[must_use]
    pub fn flags(&self) -> Vec<(&'static str, String)> {
        vec![
            ("remote-write.url", self.urls.join(",")),
            ("remote-write.interval", self.interval.clone()),
            ("remote-write.timeout", self.timeout.clone()),
            ("remote-write.header", self.headers.len().to_string()),
            (
                "remote-write.external-label",
                self.external_labels.join(","),
            ),
            (
                "remote-write.retry-on-http-429",
                self.retry_on_429.to_string(),
            ),
            ("remote-write.queue-ticks", self.queue_ticks.to_string()),
            (
                "remote-write.max-series-per-request",
                self.max_series_per_request.to_string(),
            ),
            (
                "remote-write.max-bytes-per-request",
                self.max_bytes_per_request.to_string(),
            ),
            (
                "remote-write.tls.insecure-skip-verify",
                self.tls_insecure.to_string(),
            ),
        ]
    }
}

/// The config file's `remote_write:` section.
///
/// ```yaml
/// remote_write:
///   interval: 15s
///   external_labels: {cluster: eu1}
///   endpoints:
///     - url: http://mimir:9009/api/v1/push
///       timeout: 30s
///       headers: {X-Scope-OrgID: team-a}
///       basic_auth: {username: pg, password_file: /etc/pg/pw}
///       bearer_token_file: /var/run/token
///       tls_config: {ca_file: ca.pem, cert_file: c.pem, key_file: k.pem, insecure_skip_verify: false}
///       retry_on_http_429: true
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteFile {
    /// Overrides `--remote-write.interval`.
    pub interval: Option<String>,
    /// Override `--remote-write.external-label`.
    pub external_labels: Option<std::collections::BTreeMap<String, String>>,
    /// Overrides `--remote-write.queue-ticks`.
    pub queue_ticks: Option<usize>,
    /// Overrides `--remote-write.max-series-per-request`.
    pub max_series_per_request: Option<usize>,
    /// Overrides `--remote-write.max-bytes-per-request`.
    pub max_bytes_per_request: Option<usize>,
    /// Endpoints in addition to `--remote-write.url`.
    #[serde(default)]
    pub endpoints: Vec<EndpointFile>,
}

/// One endpoint in the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointFile {
    /// The URL.
    pub url: String,
    /// Request timeout (default 30s).
    pub timeout: Option<String>,
    /// Extra headers.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Basic auth.
    pub basic_auth: Option<BasicAuthFile>,
    /// Bearer token.
    pub bearer_token: Option<String>,
    /// Bearer token file.
    pub bearer_token_file: Option<PathBuf>,
    /// TLS client settings.
    #[serde(default)]
    pub tls_config: TlsFile,
    /// Retry 429 (default true).
    pub retry_on_http_429: Option<bool>,
}

/// `basic_auth:` of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthFile {
    /// User name.
    pub username: String,
    /// Password.
    pub password: Option<String>,
    /// Password file.
    pub password_file: Option<PathBuf>,
}

/// `tls_config:` of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// CA certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM).
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM).
    pub key_file: Option<PathBuf>,
    /// Skip certificate verification.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// A secret given inline (config file) or as a file re-read every tick.
#[derive(Debug, Clone)]
pub enum Secret {
    /// The value itself.
    Inline(String),
    /// A file holding it.
    File(PathBuf),
}

/// Request authentication.
#[derive(Debug, Clone)]
pub enum Auth {
    /// None.
    None,
    /// `Authorization: Basic`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// `Authorization: Bearer`.
    Bearer(Secret),
}

/// One validated endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The URL as given (the `url` label of the self-metrics).
    pub url: String,
    /// The parsed URL.
    pub uri: Uri,
    /// Request timeout.
    pub timeout: Duration,
    /// Extra headers (never the fixed Remote-Write ones).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Authentication.
    pub auth: Auth,
    /// TLS client config for `https` URLs.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Whether 429 is retried.
    pub retry_on_429: bool,
}

/// Everything remote write runs with.
#[derive(Debug, Clone)]
pub struct RemoteWriteConfig {
    /// Time between ticks.
    pub interval: Duration,
    /// Labels added where absent, sorted by name.
    pub external_labels: Vec<(String, String)>,
    /// Ticks waiting per endpoint.
    pub queue_ticks: usize,
    /// Request caps.
    pub limits: super::encode::BatchLimits,
    /// The endpoints.
    pub endpoints: Vec<Arc<Endpoint>>,
}

/// Why the remote-write settings are unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteWriteConfigError {
    /// Occurs when a URL is not an absolute http:// or https:// URL with a host.
    #[error("invalid remote write URL {0:?}: expected http(s)://host[:port]/path")]
    Url(String),
    /// Occurs when a header is not `Name: value` or names a header pushgate sets itself.
    #[error("invalid remote write header {0:?}: {1}")]
    Header(String, &'static str),
    /// Occurs when an external label is not `name=value` with a valid name and a non-empty value.
    #[error(
        "invalid remote write external label {0:?}: expected name=value with a valid label name"
    )]
    ExternalLabel(String),
    /// Occurs when a duration is not positive like `15s`.
    #[error("invalid remote write {0} {1:?}: expected a positive duration like 15s")]
    Duration(&'static str, String),
    /// Occurs when a count setting is 0.
    #[error("invalid remote write {0} 0: must be at least 1")]
    Zero(&'static str),
    /// Occurs when auth settings conflict or are incomplete.
    #[error("remote write {0}: {1}")]
    Auth(String, &'static str),
    /// Occurs when a credentials file cannot be read.
    #[error("remote write {url}: cannot read {path}: {source}")]
    Secret {
        /// The endpoint.
        url: String,
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Occurs when the TLS files are unusable.
    #[error("remote write {0}: tls: {1}")]
    Tls(String, String),
}

type Error = RemoteWriteConfigError;

/// Merges the flags and the file section; `None` when no endpoint is configured.
///
/// # Errors
/// The first unusable setting.
pub fn build(
    args: &RemoteWriteArgs,
    file: Option<&RemoteWriteFile>,
) -> Result<Option<RemoteWriteConfig>, Error> {
    let empty = RemoteWriteFile::default();
    let file = file.unwrap_or(&empty);
    if args.urls.is_empty() && file.endpoints.is_empty() {
        return Ok(None);
    }
    let interval_text = file.interval.as_deref().unwrap_or(&args.interval);
    let interval = duration("interval", interval_text)?;
    let external_labels = match &file.external_labels {
        Some(m) => m
            .iter()
            .map(|(k, v)| external_label(&format!("{k}={v}")))
            .collect::<Result<Vec<_>, _>>()?,
        None => args
            .external_labels
            .iter()
            .map(|s| external_label(s))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let nonzero = |what, v: usize| {
        if v == 0 {
            Err(Error::Zero(what))
        } else {
            Ok(v)
        }
    };
    let queue_ticks = nonzero("queue-ticks", file.queue_ticks.unwrap_or(args.queue_ticks))?;
    let limits = super::encode::BatchLimits {
        max_rows: nonzero(
            "max-series-per-request",
            file.max_series_per_request
                .unwrap_or(args.max_series_per_request),
        )?,
        max_bytes: nonzero(
            "max-bytes-per-request",
            file.max_bytes_per_request
                .unwrap_or(args.max_bytes_per_request),
        )?,
    };
    let mut endpoints = Vec::new();
    for url in &args.urls {
        endpoints.push(Arc::new(flag_endpoint(args, url)?));
    }
    for e in &file.endpoints {
        endpoints.push(Arc::new(file_endpoint(e)?));
    }
    Ok(Some(RemoteWriteConfig {
        interval,
        external_labels,
        queue_ticks,
        limits,
        endpoints,
    }))
}

fn duration(what: &'static str, v: &str) -> Result<Duration, Error> {
    crate::config::parse_duration(v)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Error::Duration(what, v.to_owned()))
}

fn external_label(s: &str) -> Result<(String, String), Error> {
    match s.split_once('=') {
        Some((n, v)) if crate::model::is_valid_label_name(n) && !v.is_empty() => {
            Ok((n.to_owned(), v.to_owned()))
        }
        _ => Err(Error::ExternalLabel(s.to_owned())),
    }
}

fn flag_endpoint(args: &RemoteWriteArgs, url: &str) -> Result<Endpoint, Error> {
    let nonempty = |s: &str| (!s.is_empty()).then(|| PathBuf::from(s));
    let headers = args
        .headers
        .iter()
        .map(|h| match h.split_once(':') {
            Some((n, v)) => Ok((n.trim().to_owned(), v.trim().to_owned())),
            None => Err(Error::Header(h.clone(), "expected Name: value")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let spec = EndpointSpec {
        url,
        timeout: &args.timeout,
        headers,
        basic: (!args.basic_auth_username.is_empty() || !args.basic_auth_password_file.is_empty())
            .then(|| {
                (
                    args.basic_auth_username.clone(),
                    nonempty(&args.basic_auth_password_file).map(Secret::File),
                )
            }),
        bearer: nonempty(&args.bearer_token_file).map(Secret::File),
        tls: TlsFile {
            ca_file: nonempty(&args.tls_ca_file),
            cert_file: nonempty(&args.tls_cert_file),
            key_file: nonempty(&args.tls_key_file),
            insecure_skip_verify: args.tls_insecure,
        },
        retry_on_429: args.retry_on_429,
    };
    spec.validate()
}

fn file_endpoint(e: &EndpointFile) -> Result<Endpoint, Error> {
    let auth_err = |m| Error::Auth(e.url.clone(), m);
    let bearer = match (&e.bearer_token, &e.bearer_token_file) {
        (Some(_), Some(_)) => {
            return Err(auth_err(
                "bearer_token and bearer_token_file are mutually exclusive",
            ))
        }
        (Some(t), None) => Some(Secret::Inline(t.clone())),
        (None, Some(f)) => Some(Secret::File(f.clone())),
        (None, None) => None,
    };
    let basic = match &e.basic_auth {
        None => None,
        Some(b) => Some((
            b.username.clone(),
            match (&b.password, &b.password_file) {
                (Some(_), Some(_)) => {
                    return Err(auth_err(
                        "basic_auth password and password_file are mutually exclusive",
                    ))
                }
                (Some(p), None) => Some(Secret::Inline(p.clone())),
                (None, Some(f)) => Some(Secret::File(f.clone())),
                (None, None) => None,
            },
        )),
    };
    EndpointSpec {
        url: &e.url,
        timeout: e.timeout.as_deref().unwrap_or("30s"),
        headers: e.headers.clone().into_iter().collect(),
        basic,
        bearer,
        tls: e.tls_config.clone(),
        retry_on_429: e.retry_on_http_429.unwrap_or(true),
    }
    .validate()
}

/// An endpoint's settings before validation, from either source.
struct EndpointSpec<'a> {
    url: &'a str,
    timeout: &'a str,
    headers: Vec<(String, String)>,
    basic: Option<(String, Option<Secret>)>,
    bearer: Option<Secret>,
    tls: TlsFile,
    retry_on_429: bool,
}

/// Headers pushgate sets itself (the spec's four, plus the ones auth and HTTP own).
const RESERVED: &[&str] = &[
    "content-encoding",
    "content-type",
    "user-agent",
    "x-prometheus-remote-write-version",
    "authorization",
    "host",
    "content-length",
    "transfer-encoding",
    "retry-attempt",
];

impl EndpointSpec<'_> {
    fn validate(self) -> Result<Endpoint, Error> {
        let url = self.url.to_owned();
        let uri: Uri = self.url.parse().map_err(|_| Error::Url(url.clone()))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(Error::Url(url)),
        };
        if uri.host().is_none_or(str::is_empty) {
            return Err(Error::Url(url));
        }
        let timeout = duration("timeout", self.timeout)?;
        let headers = self
            .headers
            .iter()
            .map(|(n, v)| header(n, v))
            .collect::<Result<Vec<_>, _>>()?;
        let auth = self.auth(&url)?;
        let tls = if https {
            Some(Arc::new(
                tls_config(&self.tls).map_err(|e| Error::Tls(url.clone(), e))?,
            ))
        } else {
            None
        };
        Ok(Endpoint {
            url,
            uri,
            timeout,
            headers,
            auth,
            tls,
            retry_on_429: self.retry_on_429,
        })
    }

    fn auth(&self, url: &str) -> Result<Auth, Error> {
        let auth = match (&self.basic, &self.bearer) {
            (Some(_), Some(_)) => {
                return Err(Error::Auth(
                    url.to_owned(),
                    "basic auth and a bearer token are mutually exclusive",
                ))
            }
            (Some((username, password)), None) => Auth::Basic {
                username: username.clone(),
                password: password.clone().unwrap_or(Secret::Inline(String::new())),
            },
            (None, Some(token)) => Auth::Bearer(token.clone()),
            (None, None) => Auth::None,
        };
        let file = match &auth {
            Auth::Basic {
                password: Secret::File(f),
                ..
            }
            | Auth::Bearer(Secret::File(f)) => Some(f),
            _ => None,
        };
        if let Some(f) = file {
            std::fs::read(f).map_err(|source| Error::Secret {
                url: url.to_owned(),
                path: f.display().to_string(),
                source,
            })?;
        }
        Ok(auth)
    }
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let shown = format!("{name}: {value}");
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::Header(shown.clone(), "invalid header name"))?;
    if RESERVED.contains(&n.as_str()) {
        return Err(Error::Header(
            shown,
            "pushgate sets this header itself (use the auth settings for Authorization)",
        ));
    }
    let v = HeaderValue::from_str(value).map_err(|_| Error::Header(shown, "invalid value"))?;
    Ok((n, v))
}

/// The rustls client config: CA file or the system's roots, an optional client certificate,
/// or no verification at all.
fn tls_config(t: &TlsFile) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if t.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let system = std::env::var_os("SSL_CERT_FILE").map_or_else(
            || "/etc/ssl/certs/ca-certificates.crt".into(),
            PathBuf::from,
        );
        let (path, required) = match &t.ca_file {
            Some(p) => (p.clone(), true),
            None => (system, false),
        };
        let mut roots = rustls::RootCertStore::empty();
        match CertificateDer::pem_file_iter(&path) {
            Ok(certs) => {
                for c in certs {
                    let c = c.map_err(|e| format!("{}: {e}", path.display()))?;
                    let _ = roots.add(c);
                }
            }
            Err(e) if required => return Err(format!("ca_file {}: {e}", path.display())),
            Err(_) => {}
        }
        if required && roots.is_empty() {
            return Err(format!("ca_file {}: no certificate found", path.display()));
        }
        builder.with_root_certificates(roots)
    };
    match (&t.cert_file, &t.key_file) {
        (Some(c), Some(k)) => {
            let certs = CertificateDer::pem_file_iter(c)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| format!("cert_file {}: {e}", c.display()))?;
            let key = PrivateKeyDer::from_pem_file(k)
                .map_err(|e| format!("key_file {}: {e}", k.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| e.to_string())
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err("cert_file and key_file go together".into()),
    }
}

/// `insecure_skip_verify`: accepts any server certificate (signatures still checked, so the
/// handshake itself is sound).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        rw: RemoteWriteArgs,
    }

    fn args(extra: &[&str]) -> RemoteWriteArgs {
        let mut v = vec!["x"];
        v.extend_from_slice(extra);
        Wrap::parse_from(v).rw
    }

    #[track_caller]
    fn err(extra: &[&str]) -> String {
        build(&args(extra), None).expect_err("invalid").to_string()
    }

    #[test]
    fn no_url_means_no_remote_write() {
        assert!(build(&args(&[]), None).expect("valid").is_none());
    }

    #[test]
    fn flags_make_one_endpoint_per_url_with_the_shared_options() {
        let c = build(
            &args(&[
                "--remote-write.url=http://a:9009/api/v1/push",
                "--remote-write.url=https://b/api/v1/write",
                "--remote-write.header=X-Scope-OrgID: team-a",
                "--remote-write.external-label=cluster=eu1",
                "--remote-write.interval=2s",
                "--remote-write.retry-on-http-429=false",
            ]),
            None,
        )
        .expect("valid")
        .expect("configured");
        assert_eq!(c.endpoints.len(), 2);
        assert_eq!(c.interval, Duration::from_secs(2));
        assert_eq!(c.external_labels, [("cluster".into(), "eu1".into())]);
        assert_eq!(c.endpoints[0].headers[0].0.as_str(), "x-scope-orgid");
        assert!(c.endpoints[0].tls.is_none() && c.endpoints[1].tls.is_some());
        assert!(!c.endpoints[1].retry_on_429);
    }

    #[test]
    fn bad_settings_are_errors_naming_them() {
        assert!(err(&["--remote-write.url=ftp://x/"]).contains("invalid remote write URL"));
        assert!(err(&["--remote-write.url=/api/v1/write"]).contains("invalid remote write URL"));
        let u = "--remote-write.url=http://a/";
        assert!(err(&[u, "--remote-write.header=Content-Type: x"]).contains("sets this header"));
        assert!(err(&[u, "--remote-write.header=nocolon"]).contains("Name: value"));
        assert!(err(&[u, "--remote-write.external-label=1x=y"]).contains("external label"));
        assert!(err(&[u, "--remote-write.interval=0s"]).contains("interval"));
        assert!(err(&[u, "--remote-write.queue-ticks=0"]).contains("queue-ticks"));
        assert!(
            err(&[u, "--remote-write.bearer-token-file=/nonexistent/t"]).contains("cannot read")
        );
    }

    #[test]
    fn the_file_section_adds_endpoints_and_overrides_interval_and_labels() {
        let file: RemoteWriteFile = serde_yaml_ng::from_str(
            "interval: 5s\nexternal_labels: {region: x}\nendpoints:\n  - url: http://c/api/v1/push\n    headers: {X-Scope-OrgID: t}\n    basic_auth: {username: u, password: p}\n",
        )
        .expect("valid yaml");
        let c = build(&args(&["--remote-write.url=http://a/"]), Some(&file))
            .expect("valid")
            .expect("configured");
        assert_eq!(c.endpoints.len(), 2);
        assert_eq!(c.interval, Duration::from_secs(5));
        assert_eq!(c.external_labels, [("region".into(), "x".into())]);
        assert!(matches!(c.endpoints[1].auth, Auth::Basic { .. }));
        assert!(serde_yaml_ng::from_str::<RemoteWriteFile>("endpoint: []\n").is_err());
    }
}
