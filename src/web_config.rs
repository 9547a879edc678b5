//! The web config file (`--web.config.file`): TLS, basic auth and extra response headers, in
//! the Prometheus exporter-toolkit format the Go Pushgateway 1.5.1 reads.
//!
//! Owns: reading and strictly deserializing the file, checking every value against the
//! exporter-toolkit vocabulary (Go's cipher-suite, curve and TLS-version names, client-auth
//! policies, the header allow-list, bcrypt hashes), and the errors that name the file
//! ([`WebConfigError`]). It resolves relative paths against the file's directory, as
//! exporter-toolkit does.
//! Does not own: the rustls set-up, certificate loading and reloading (`server::tls`) or the
//! per-request password check (`server::auth`); it calls them once here so that every problem,
//! including an unreadable or mismatched certificate, is a start-up error.
//!
//! Data enters as the path given on the command line, at start-up only, and leaves as a
//! [`WebConfig`] inside the validated `Config`. The format (every key optional; an empty file
//! means plain HTTP without auth, as in Go):
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt           # both or neither of cert_file and key_file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert  # default NoClientCert
//!   client_ca_file: ca.crt
//!   min_version: TLS12              # TLS10..TLS13; rustls speaks TLS12 and TLS13
//!   max_version: TLS13
//!   cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]  # TLS 1.2 only, as in Go
//!   curve_preferences: [X25519, CurveP256]
//!   prefer_server_cipher_suites: true
//! http_server_config:
//!   http2: true
//!   headers: {X-Frame-Options: deny}
//! basic_auth_users:
//!   alice: $2y$10$...               # bcrypt hash
//! ```
//!
//! Unlike exporter-toolkit, which re-reads the file on every request and the certificate on
//! every handshake, pushgate reads the file once. Only the certificate and key are re-read,
//! and only when their files change (see `server::tls`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::server::auth::BasicAuth;
use crate::server::tls::{TlsError, TlsServer};

/// The file as Go's `yaml.UnmarshalStrict` reads it: every key of exporter-toolkit 0.8 (the
/// version in Pushgateway 1.5.1), nothing else.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, Option<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTls {
    cert_file: String,
    key_file: String,
    client_auth_type: String,
    client_ca_file: String,
    cipher_suites: Vec<String>,
    curve_preferences: Vec<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default = "yes")]
    http2: bool,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// The client-certificate policy (Go's `tls.ClientAuthType`, by exporter-toolkit's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `NoClientCert` (the default): no certificate is asked for.
    None,
    /// `RequestClientCert`: one is asked for, not required, not verified.
    Request,
    /// `RequireAnyClientCert` (or the old name `RequireClientCert`): one is required, not
    /// verified against `client_ca_file` (its signature over the handshake still is).
    RequireAny,
    /// `VerifyClientCertIfGiven`: one is optional, but verified if sent.
    VerifyIfGiven,
    /// `RequireAndVerifyClientCert`: one is required and verified.
    RequireAndVerify,
}

/// A named key-exchange group (`curve_preferences`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// `CurveP256` (secp256r1).
    P256,
    /// `CurveP384` (secp384r1).
    P384,
    /// `CurveP521`: Go has it, rustls' ring provider does not.
    P521,
    /// `X25519`.
    X25519,
}

/// A TLS protocol version by Go's name (`TLS10` .. `TLS13`), ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// `TLS10`: Go only; rustls does not speak it.
    Tls10,
    /// `TLS11`: Go only; rustls does not speak it.
    Tls11,
    /// `TLS12`.
    Tls12,
    /// `TLS13`.
    Tls13,
}

/// The validated `tls_server_config`, paths resolved, names parsed; what `server::tls` builds
/// a rustls configuration from.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// Client-certificate policy.
    pub client_auth: ClientAuth,
    /// PEM CA certificates that client certificates must chain to.
    pub client_ca_file: Option<PathBuf>,
    /// Lowest version offered.
    pub min_version: TlsVersion,
    /// Highest version offered.
    pub max_version: TlsVersion,
    /// TLS 1.2 cipher suites by IANA number, in preference order (`None`: rustls' defaults).
    /// Like Go, the TLS 1.3 suites are not configurable.
    pub cipher_suites: Option<Vec<(u16, &'static str)>>,
    /// Key-exchange groups in preference order (`None`: rustls' defaults).
    pub curves: Option<Vec<Curve>>,
    /// Choose the cipher suite by our order, not the client's (Go's default: yes).
    pub prefer_server_cipher_suites: bool,
    /// Offer HTTP/2 by ALPN (`http_server_config.http2`, default yes).
    pub http2: bool,
}

/// Everything the file configures, ready to serve with.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// TLS, if `tls_server_config` configures it.
    pub tls: Option<Arc<TlsServer>>,
    /// Basic auth, if `basic_auth_users` has any user.
    pub auth: Option<Arc<BasicAuth>>,
    /// Headers set on every response (`http_server_config.headers`), 401s included.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Things that were accepted but cannot be honoured exactly (a cipher suite or curve
    /// rustls lacks, TLS 1.0/1.1); logged when the server starts.
    pub warnings: Vec<String>,
}

/// A web config file that cannot be used, and which file it was.
#[derive(Debug, thiserror::Error)]
#[error("web config file {}: {kind}", path.display())]
pub struct WebConfigError {
    /// The file as given on the command line.
    pub path: PathBuf,
    /// What is wrong with it (boxed: errors are rare, `Result`s should stay small).
    pub kind: Box<WebConfigErrorKind>,
}

/// What is wrong with a web config file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebConfigErrorKind {
    /// Occurs when the file cannot be read (missing, a directory, no permission...).
    #[error("cannot be read: {0}")]
    Read(#[source] std::io::Error),
    /// Occurs when the file is not valid YAML or has an unknown key or a wrong type; the
    /// message has the line and column.
    #[error("{0}")]
    Yaml(#[source] serde_yaml_ng::Error),
    /// Occurs when `http_server_config.headers` names a header exporter-toolkit does not allow.
    #[error("http_server_config.headers: HTTP header {0:?} can not be configured (allowed: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy)")]
    Header(String),
    /// Occurs when a header with a fixed set of values has another, or a value is not a valid
    /// header value.
    #[error(
        "http_server_config.headers: invalid value for {name}: {value:?} (expected {expected})"
    )]
    HeaderValue {
        /// The header.
        name: String,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// Occurs when a `basic_auth_users` entry is not a bcrypt hash.
    #[error("basic_auth_users.{user}: not a bcrypt hash ({reason})")]
    BcryptHash {
        /// The user name.
        user: String,
        /// Why the hash is unusable.
        reason: String,
    },
    /// Occurs when `tls_server_config` is present but `cert_file` is empty.
    #[error("tls_server_config: missing cert_file")]
    MissingCertFile,
    /// Occurs when `tls_server_config` is present but `key_file` is empty.
    #[error("tls_server_config: missing key_file")]
    MissingKeyFile,
    /// Occurs when `client_auth_type` is not one of exporter-toolkit's names.
    #[error("tls_server_config.client_auth_type: invalid ClientAuth {0:?} (expected NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)")]
    ClientAuth(String),
    /// Occurs when `client_ca_file` is set without a client-auth policy (as in Go).
    #[error("tls_server_config: client_ca_file is configured without a client_auth_type (Client CA's have been configured without a Client Auth Policy)")]
    ClientCaWithoutAuth,
    /// Occurs when a verifying policy has no `client_ca_file` to verify against.
    #[error("tls_server_config: client_auth_type {0} needs client_ca_file")]
    VerifyWithoutCa(&'static str),
    /// Occurs when `min_version`/`max_version` is not `TLS10`..`TLS13`.
    #[error(
        "tls_server_config: unknown TLS version {0:?} (expected TLS10, TLS11, TLS12 or TLS13)"
    )]
    Version(String),
    /// Occurs when `min_version`..`max_version` contains neither TLS 1.2 nor TLS 1.3.
    #[error("tls_server_config: min_version {min:?} .. max_version {max:?} contains no version pushgate can serve (TLS12, TLS13)")]
    NoVersion {
        /// `min_version`.
        min: TlsVersion,
        /// `max_version`.
        max: TlsVersion,
    },
    /// Occurs when `cipher_suites` has a name Go does not know either.
    #[error("tls_server_config.cipher_suites: unknown cipher {0:?}")]
    Cipher(String),
    /// Occurs when `curve_preferences` has a name Go does not know.
    #[error("tls_server_config.curve_preferences: unknown curve {0:?} (expected CurveP256, CurveP384, CurveP521 or X25519)")]
    Curve(String),
    /// Occurs when a certificate, key or CA file cannot be used.
    #[error("tls_server_config: {0}")]
    Tls(#[source] TlsError),
}

/// Go's `tls.CipherSuites()` (the suites exporter-toolkit accepts by name) and their IANA
/// numbers. The CBC and RSA-key-exchange ones are known but not implemented by rustls.
const GO_CIPHER_SUITES: &[(&str, u16)] = &[
    ("TLS_RSA_WITH_AES_128_CBC_SHA", 0x002f),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", 0x0035),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009c),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009d),
    ("TLS_AES_128_GCM_SHA256", 0x1301),
    ("TLS_AES_256_GCM_SHA384", 0x1302),
    ("TLS_CHACHA20_POLY1305_SHA256", 0x1303),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xc009),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xc00a),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xc013),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xc014),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xc02b),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xc02c),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xc02f),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xc030),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca8),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca9),
];

/// A header's allowed values and how to describe them (`None`: any value).
type AllowedValues = Option<(&'static [&'static str], &'static str)>;

/// The headers exporter-toolkit lets a config set, with their allowed values.
const ALLOWED_HEADERS: &[(&str, AllowedValues)] = &[
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some((&["nosniff"], "nosniff"))),
    (
        "X-Frame-Options",
        Some((&["deny", "sameorigin"], "deny or sameorigin")),
    ),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

impl WebConfig {
    /// Reads the file at `path`, checks it, loads the certificates and builds what the server
    /// runs with.
    ///
    /// # Errors
    /// [`WebConfigError`] naming the file and the first problem.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let error = |kind| WebConfigError {
            path: path.to_owned(),
            kind: Box::new(kind),
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(WebConfigErrorKind::Read(e)))?;
        let raw = serde_yaml_ng::from_str::<Option<RawWebConfig>>(&text)
            .map_err(|e| error(WebConfigErrorKind::Yaml(e)))?
            .unwrap_or_default();
        let dir = path.parent().unwrap_or(Path::new(""));
        WebConfig::build(raw, dir, path).map_err(error)
    }

    fn build(raw: RawWebConfig, dir: &Path, path: &Path) -> Result<WebConfig, WebConfigErrorKind> {
        let (http2, headers) = match raw.http_server_config {
            Some(http) => (http.http2, headers(http.headers)?),
            None => (true, Vec::new()),
        };
        let users = raw.basic_auth_users.unwrap_or_default();
        let auth = (!users.is_empty())
            .then(|| BasicAuth::new(users))
            .transpose()
            .map_err(|(user, reason)| WebConfigErrorKind::BcryptHash { user, reason })?;
        let mut warnings = Vec::new();
        let tls = match raw.tls_server_config {
            Some(t) if t.is_enabled() => {
                let settings = t.settings(dir, http2, &mut warnings)?;
                let server = TlsServer::new(&settings).map_err(WebConfigErrorKind::Tls)?;
                warnings.extend(server.notes.iter().cloned());
                Some(Arc::new(server))
            }
            _ => None,
        };
        Ok(WebConfig {
            path: path.to_owned(),
            tls,
            auth: auth.map(Arc::new),
            headers,
            warnings,
        })
    }
}

impl RawTls {
    /// exporter-toolkit: TLS is on when any certificate or client-auth key is set, so a
    /// `tls_server_config` with only `cipher_suites` means plain HTTP.
    fn is_enabled(&self) -> bool {
        !(self.cert_file.is_empty()
            && self.key_file.is_empty()
            && self.client_ca_file.is_empty()
            && self.client_auth_type.is_empty())
    }

    fn settings(
        self,
        dir: &Path,
        http2: bool,
        warnings: &mut Vec<String>,
    ) -> Result<TlsSettings, WebConfigErrorKind> {
        if self.cert_file.is_empty() {
            return Err(WebConfigErrorKind::MissingCertFile);
        }
        if self.key_file.is_empty() {
            return Err(WebConfigErrorKind::MissingKeyFile);
        }
        let client_auth = client_auth(&self.client_auth_type)?;
        let client_ca_file =
            (!self.client_ca_file.is_empty()).then(|| dir.join(&self.client_ca_file));
        match (client_auth, &client_ca_file) {
            (ClientAuth::None, Some(_)) => return Err(WebConfigErrorKind::ClientCaWithoutAuth),
            (ClientAuth::VerifyIfGiven, None) => {
                return Err(WebConfigErrorKind::VerifyWithoutCa(
                    "VerifyClientCertIfGiven",
                ))
            }
            (ClientAuth::RequireAndVerify, None) => {
                return Err(WebConfigErrorKind::VerifyWithoutCa(
                    "RequireAndVerifyClientCert",
                ))
            }
            _ => {}
        }
        let min_version = version(self.min_version.as_deref(), TlsVersion::Tls12)?;
        let max_version = version(self.max_version.as_deref(), TlsVersion::Tls13)?;
        if max_version < TlsVersion::Tls12 || min_version > max_version {
            return Err(WebConfigErrorKind::NoVersion {
                min: min_version,
                max: max_version,
            });
        }
        if min_version < TlsVersion::Tls12 {
            warnings.push(format!(
                "min_version {min_version:?}: TLS 1.0 and 1.1 are not served; clients need TLS 1.2 or 1.3"
            ));
        }
        Ok(TlsSettings {
            cert_file: dir.join(&self.cert_file),
            key_file: dir.join(&self.key_file),
            client_auth,
            client_ca_file,
            min_version,
            max_version,
            cipher_suites: cipher_suites(&self.cipher_suites)?,
            curves: curves(&self.curve_preferences)?,
            prefer_server_cipher_suites: self.prefer_server_cipher_suites.unwrap_or(true),
            http2,
        })
    }
}

fn client_auth(name: &str) -> Result<ClientAuth, WebConfigErrorKind> {
    Ok(match name {
        "" | "NoClientCert" => ClientAuth::None,
        "RequestClientCert" => ClientAuth::Request,
        "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAny,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
        other => return Err(WebConfigErrorKind::ClientAuth(other.to_owned())),
    })
}

fn version(name: Option<&str>, default: TlsVersion) -> Result<TlsVersion, WebConfigErrorKind> {
    Ok(match name {
        None | Some("") => default,
        Some("TLS10") => TlsVersion::Tls10,
        Some("TLS11") => TlsVersion::Tls11,
        Some("TLS12") => TlsVersion::Tls12,
        Some("TLS13") => TlsVersion::Tls13,
        Some(other) => return Err(WebConfigErrorKind::Version(other.to_owned())),
    })
}

/// Go's names to IANA numbers; an unknown name is an error, as in Go.
fn cipher_suites(names: &[String]) -> Result<Option<Vec<(u16, &'static str)>>, WebConfigErrorKind> {
    if names.is_empty() {
        return Ok(None);
    }
    names
        .iter()
        .map(|name| {
            GO_CIPHER_SUITES
                .iter()
                .find(|(n, _)| n == name)
                .map(|&(n, id)| (id, n))
                .ok_or_else(|| WebConfigErrorKind::Cipher(name.clone()))
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

fn curves(names: &[String]) -> Result<Option<Vec<Curve>>, WebConfigErrorKind> {
    if names.is_empty() {
        return Ok(None);
    }
    names
        .iter()
        .map(|name| match name.as_str() {
            "CurveP256" => Ok(Curve::P256),
            "CurveP384" => Ok(Curve::P384),
            "CurveP521" => Ok(Curve::P521),
            "X25519" => Ok(Curve::X25519),
            other => Err(WebConfigErrorKind::Curve(other.to_owned())),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// exporter-toolkit's header allow-list; names are matched exactly, as Go's map lookup does.
fn headers(
    configured: BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, WebConfigErrorKind> {
    configured
        .into_iter()
        .map(|(name, value)| {
            let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| *n == name) else {
                return Err(WebConfigErrorKind::Header(name));
            };
            let bad = |expected| WebConfigErrorKind::HeaderValue {
                name: name.clone(),
                value: value.clone(),
                expected,
            };
            if let Some((values, expected)) = allowed {
                if !values.contains(&value.as_str()) {
                    return Err(bad(expected));
                }
            }
            let header_value =
                HeaderValue::from_str(&value).map_err(|_| bad("a valid header value"))?;
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .expect("the allow-list holds valid header names");
            Ok((header_name, header_value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_err(yaml: &str, want: &str) {
        let raw = match serde_yaml_ng::from_str::<Option<RawWebConfig>>(yaml) {
            Ok(raw) => raw.unwrap_or_default(),
            Err(e) => {
                let got = e.to_string();
                assert!(got.contains(want), "{got:?} does not contain {want:?}");
                return;
            }
        };
        let err = WebConfig::build(raw, Path::new("/nonexistent"), Path::new("w.yml"))
            .expect_err("config must be refused");
        let got = err.to_string();
        assert!(got.contains(want), "{got:?} does not contain {want:?}");
    }

    const TLS: &str = "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n";

    #[test]
    fn refused_values_name_the_problem() {
        check_err("foo: 1\n", "unknown field `foo`");
        check_err("tls_server_config:\n  bogus: 1\n", "unknown field `bogus`");
        check_err(
            "tls_server_config:\n  cert_file: c.pem\n",
            "missing key_file",
        );
        check_err(
            "tls_server_config:\n  key_file: k.pem\n",
            "missing cert_file",
        );
        check_err(
            "basic_auth_users:\n  alice: nope\n",
            "basic_auth_users.alice: not a bcrypt hash",
        );
        check_err(
            "basic_auth_users:\n  alice:\n",
            "basic_auth_users.alice: not a bcrypt hash",
        );
        check_err(
            &format!("{TLS}  client_auth_type: Foo\n"),
            "invalid ClientAuth \"Foo\"",
        );
        check_err(
            &format!("{TLS}  client_ca_file: ca.pem\n"),
            "without a client_auth_type",
        );
        check_err(
            &format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n"),
            "RequireAndVerifyClientCert needs client_ca_file",
        );
        check_err(
            &format!("{TLS}  min_version: TLS9\n"),
            "unknown TLS version \"TLS9\"",
        );
        check_err(
            &format!("{TLS}  max_version: TLS11\n"),
            "contains no version",
        );
        check_err(
            &format!("{TLS}  min_version: TLS13\n  max_version: TLS12\n"),
            "contains no version",
        );
        check_err(
            &format!("{TLS}  cipher_suites: [FOO]\n"),
            "unknown cipher \"FOO\"",
        );
        check_err(
            &format!("{TLS}  curve_preferences: [P9]\n"),
            "unknown curve \"P9\"",
        );
        check_err(
            "http_server_config:\n  headers:\n    X-Foo: bar\n",
            "HTTP header \"X-Foo\" can not be configured",
        );
        check_err(
            "http_server_config:\n  headers:\n    x-frame-options: deny\n",
            "can not be configured",
        );
        check_err(
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            "invalid value for X-Frame-Options: \"allow\" (expected deny or sameorigin)",
        );
        // Only after every value checks out are the files read.
        check_err(TLS, "c.pem");
    }

    #[test]
    fn empty_and_null_sections_mean_plain_http_without_auth() {
        for yaml in [
            "",
            "# nothing\n",
            "null\n",
            "tls_server_config:\nhttp_server_config:\n  http2: false\n",
        ] {
            let raw = serde_yaml_ng::from_str::<Option<RawWebConfig>>(yaml)
                .expect("valid")
                .unwrap_or_default();
            let web = WebConfig::build(raw, Path::new("."), Path::new("w.yml")).expect("valid");
            assert!(
                web.tls.is_none() && web.auth.is_none() && web.headers.is_empty(),
                "{yaml:?}"
            );
        }
    }

    #[test]
    fn go_names_parse() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let suites = cipher_suites(&names(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]))
            .expect("known")
            .expect("some");
        assert_eq!(
            suites,
            vec![(0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")]
        );
        assert_eq!(cipher_suites(&[]).expect("empty is fine"), None);
        assert_eq!(
            curves(&names(&["X25519", "CurveP384"])).expect("known"),
            Some(vec![Curve::X25519, Curve::P384])
        );
        assert_eq!(
            client_auth("RequireClientCert").expect("old name"),
            ClientAuth::RequireAny
        );
        assert_eq!(
            version(Some("TLS10"), TlsVersion::Tls12).expect("known"),
            TlsVersion::Tls10
        );
    }
}
