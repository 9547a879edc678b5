//! The push loop, with the options and wire behaviour of Flink's
//! `PrometheusPushGatewayReporter`.
//!
//! Owns: turning [`PushConfig`] into a push URL (job name plus optional random suffix,
//! grouping key in Java `HashMap` order, Java form-encoding of path values), the HTTP/1.1
//! keep-alive client, the PUT every interval, the 5 s view updater, and the DELETE on
//! shutdown.
//! Does not own: what is pushed (see [`crate::group::Registry::render`]).
//!
//! Wire behaviour, as observed from Flink 1.20 and 2.3: `PUT` with
//! `Content-Type: text/plain; version=0.0.4; charset=utf-8` replacing the whole group; any 2xx
//! is success; anything else is reported and dropped (no retry); the first push comes one
//! interval after start; no final push before the `DELETE`.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{interval_at, Instant, MissedTickBehavior};

use crate::group::Registry;
use crate::java::{base64url, form_encode, hashmap_order, random_id};
use crate::metrics::VIEW_UPDATE_INTERVAL_SECS;

/// The `Content-Type` of every push, as the Prometheus Java client sends it.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The reporter options, named after Flink's `metrics.reporter.promgateway.*` keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    /// `hostUrl`: `http://host:port`, optionally with a path prefix. Only `http` is supported.
    pub host_url: String,
    /// `jobName`, default empty (then the job is only the random suffix).
    pub job_name: String,
    /// `randomJobNameSuffix`, default `true`: 32 lowercase hex digits appended to `job_name`
    /// with no separator, new for every reporter instance.
    pub random_job_name_suffix: bool,
    /// `deleteOnShutdown`, default `true`: `DELETE` the group when the loop stops.
    pub delete_on_shutdown: bool,
    /// `groupingKey`: `k1=v1;k2=v2`. Pairs without `=` or with a blank side are ignored, as
    /// Flink does (it logs a warning).
    pub grouping_key: String,
    /// `interval`, default 10 s.
    pub interval: Duration,
    /// Per-request timeout; the Java client's connect and read timeouts are 10 s each.
    pub timeout: Duration,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            host_url: "http://127.0.0.1:9091".into(),
            job_name: String::new(),
            random_job_name_suffix: true,
            delete_on_shutdown: true,
            grouping_key: String::new(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why a push or delete failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// Occurs when `host_url` (plus the push path) is not a valid `http://` URL.
    #[error("invalid host url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Occurs when connecting or sending fails.
    #[error("request failed: {0}")]
    Request(#[from] hyper_util::client::legacy::Error),
    /// Occurs when reading the response body fails.
    #[error("reading the response failed: {0}")]
    Response(#[from] hyper::Error),
    /// Occurs when the gateway answers with a status outside 2xx.
    #[error("pushgateway answered {status}: {body}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The response body (the gateway's error text), trimmed.
        body: String,
    },
    /// Occurs when no complete answer arrives within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Parses Flink's `groupingKey` option (`k1=v1;k2=v2`) into pairs in the order Flink's
/// `HashMap` yields them. A later duplicate key replaces the earlier value in place.
#[must_use]
pub fn parse_grouping_key(config: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for kv in config.split(';') {
        let Some((key, value)) = kv.split_once('=') else {
            continue;
        };
        if key.trim().is_empty() || value.trim().is_empty() {
            continue;
        }
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => value.clone_into(&mut slot.1),
            None => pairs.push((key.to_owned(), value.to_owned())),
        }
    }
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    hashmap_order(&keys)
        .into_iter()
        .map(|i| pairs[i].clone())
        .collect()
}

/// The push path for `job` and `grouping` as the Prometheus Java client builds it:
/// `/metrics/job/<job>{/<k>/<v>}`, values form-encoded (space -> `+`), a value containing `/`
/// as `<k>@base64/<base64url>`, an empty value as `<k>@base64/=`. Keys go as given.
#[must_use]
pub fn push_path(job: &str, grouping: &[(String, String)]) -> String {
    let mut path = String::from("/metrics/");
    if job.contains('/') {
        path.push_str("job@base64/");
        path.push_str(&base64url(job));
    } else {
        path.push_str("job/");
        path.push_str(&form_encode(job));
    }
    for (key, value) in grouping {
        path.push('/');
        path.push_str(key);
        if value.is_empty() {
            path.push_str("@base64/=");
        } else if value.contains('/') {
            path.push_str("@base64/");
            path.push_str(&base64url(value));
        } else {
            path.push('/');
            path.push_str(&form_encode(value));
        }
    }
    path
}

/// `job_name` plus, when asked, a fresh 32-hex suffix (Flink's `jobName + new AbstractID()`).
#[must_use]
pub fn job_with_suffix(job_name: &str, random_suffix: bool) -> String {
    if random_suffix {
        format!("{job_name}{}", random_id())
    } else {
        job_name.to_owned()
    }
}

/// Pushes one [`Registry`] to a Pushgateway.
#[derive(Debug, Clone)]
pub struct PushReporter {
    registry: Registry,
    config: PushConfig,
    client: Client<HttpConnector, Full<Bytes>>,
    job: String,
    url: Uri,
}

impl PushReporter {
    /// Prepares a reporter; picks the random suffix. Does not connect yet.
    ///
    /// # Errors
    /// [`PushError::InvalidUrl`] when `host_url` is not an `http://` URL.
    pub fn new(registry: Registry, config: PushConfig) -> Result<Self, PushError> {
        let job = job_with_suffix(&config.job_name, config.random_job_name_suffix);
        let grouping = parse_grouping_key(&config.grouping_key);
        let base = config.host_url.trim_end_matches('/');
        let text = format!("{base}{}", push_path(&job, &grouping));
        let invalid = |reason: String| PushError::InvalidUrl {
            url: config.host_url.clone(),
            reason,
        };
        let url: Uri = text.parse().map_err(|e| invalid(format!("{e}")))?;
        if url.scheme_str() != Some("http") {
            return Err(invalid("only http:// is supported".into()));
        }
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build_http();
        Ok(Self {
            registry,
            config,
            client,
            job,
            url,
        })
    }

    /// The job as pushed (with its suffix).
    #[must_use]
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The full push URL.
    #[must_use]
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The registry being pushed.
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Renders the registry and `PUT`s it.
    ///
    /// # Errors
    /// Any [`PushError`] but `InvalidUrl`.
    pub async fn push(&self) -> Result<(), PushError> {
        let body = self.registry.render_to_vec();
        self.send(Method::PUT, Bytes::from(body)).await
    }

    /// `DELETE`s the group.
    ///
    /// # Errors
    /// Any [`PushError`] but `InvalidUrl`.
    pub async fn delete(&self) -> Result<(), PushError> {
        self.send(Method::DELETE, Bytes::new()).await
    }

    async fn send(&self, method: Method, body: Bytes) -> Result<(), PushError> {
        let request = Request::builder()
            .method(method)
            .uri(self.url.clone())
            .header(CONTENT_TYPE, TEXT_CONTENT_TYPE)
            .header(
                USER_AGENT,
                concat!("pushgate-reporter/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(body))
            .expect("method, URI and headers are valid");
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            if status.is_success() {
                Ok(())
            } else {
                Err(PushError::Status {
                    status,
                    body: String::from_utf8_lossy(&body).trim().to_owned(),
                })
            }
        };
        tokio::time::timeout(self.config.timeout, exchange)
            .await
            .map_err(|_| PushError::Timeout(self.config.timeout))?
    }

    /// Pushes every interval (first push one interval from now) and updates meters every 5 s,
    /// until `shutdown` completes; then `DELETE`s the group if `delete_on_shutdown`. A failed
    /// push is logged and the loop goes on, as in Flink.
    ///
    /// # Errors
    /// The error of the final `DELETE`, if any.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), PushError> {
        let start = Instant::now();
        let mut pushes = interval_at(start + self.config.interval, self.config.interval);
        // Flink schedules with a fixed delay: a slow push postpones the next one.
        pushes.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let view_period = Duration::from_secs(VIEW_UPDATE_INTERVAL_SECS);
        let mut views = interval_at(start + view_period, view_period);
        views.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = pushes.tick() => {
                    if let Err(error) = self.push().await {
                        tracing::warn!(%error, url = %self.url, "push failed");
                    }
                }
                _ = views.tick() => self.registry.update_views(),
            }
        }
        if self.config.delete_on_shutdown {
            self.delete().await?;
        }
        Ok(())
    }

    /// Runs [`run`](Self::run) on the current Tokio runtime until the handle is shut down.
    #[must_use]
    pub fn spawn(self) -> ReporterHandle {
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(self.run(async {
            // A dropped handle also stops the loop.
            let _ = rx.await;
        }));
        ReporterHandle {
            shutdown: Some(tx),
            task,
        }
    }
}

/// A running push loop; [`shutdown`](Self::shutdown) stops it (and deletes the group if
/// configured). Dropping the handle stops it too, without waiting.
#[derive(Debug)]
pub struct ReporterHandle {
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), PushError>>,
}

impl ReporterHandle {
    /// Stops the loop and waits for the final `DELETE`.
    ///
    /// # Errors
    /// The error of the final `DELETE`, if any.
    ///
    /// # Panics
    /// If the loop task panicked.
    pub async fn shutdown(mut self) -> Result<(), PushError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task)
            .await
            .expect("the push loop does not panic")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_key_like_flink() {
        assert_eq!(parse_grouping_key(""), vec![]);
        assert_eq!(
            parse_grouping_key("k1=v1;bad;=x;y= ;k1=v2"),
            vec![("k1".to_owned(), "v2".to_owned())]
        );
        // `HashMap` order, not config order.
        let pairs = parse_grouping_key("instance=tm-1;cluster=prod;dc=east");
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        let expected: Vec<&str> = {
            let k = ["instance", "cluster", "dc"];
            hashmap_order(&k).into_iter().map(|i| k[i]).collect()
        };
        assert_eq!(keys, expected);
        assert_eq!(pairs.len(), 3);
    }

    #[test]
    fn push_path_encodes_like_java() {
        let grouping = vec![
            ("dc".to_owned(), "prod east".to_owned()),
            ("x".to_owned(), "a+b".to_owned()),
            ("p".to_owned(), "a/b".to_owned()),
            ("e".to_owned(), String::new()),
        ];
        assert_eq!(
            push_path("myJob", &grouping),
            "/metrics/job/myJob/dc/prod+east/x/a%2Bb/p@base64/YS9i/e@base64/="
        );
        assert_eq!(push_path("a/b", &[]), "/metrics/job@base64/YS9i");
    }

    #[test]
    fn suffix_is_32_hex_without_separator() {
        let job = job_with_suffix("flink", true);
        assert_eq!(job.len(), 5 + 32);
        assert!(job.starts_with("flink"));
        assert_ne!(job, job_with_suffix("flink", true));
        assert_eq!(job_with_suffix("flink", false), "flink");
    }

    #[test]
    fn rejects_https_and_garbage() {
        let cfg = |url: &str| PushConfig {
            host_url: url.into(),
            ..PushConfig::default()
        };
        assert!(PushReporter::new(Registry::new(), cfg("https://h:1")).is_err());
        assert!(PushReporter::new(Registry::new(), cfg("not a url")).is_err());
        let ok =
            PushReporter::new(Registry::new(), cfg("http://127.0.0.1:9091/")).expect("valid url");
        assert!(ok
            .url()
            .to_string()
            .starts_with("http://127.0.0.1:9091/metrics/job/"));
        assert_eq!(ok.job().len(), 32);
    }
}
