//! Basic auth and the web config's response headers, in front of every endpoint.
//!
//! Owns: [`BasicAuth`] (the `basic_auth_users` of the web config file: bcrypt hashes, a cache
//! of verdicts, the bcrypt work kept off the async runtime) and [`guard`], which wraps
//! `routes::handle`: a request without valid credentials gets exporter-toolkit's `401` (with
//! `WWW-Authenticate: Basic`) and never reaches a handler; every answer, 401s included, gets
//! the configured `http_server_config.headers`.
//! Does not own: reading or validating the file (`web_config`) or TLS (`server::tls`).
//!
//! Data enters as the request's `Authorization` header and leaves as "go on" or a 401.
//!
//! **Cost and timing.** A bcrypt check at cost 10 takes tens of milliseconds of CPU, and Flink
//! pushes every few seconds from every TaskManager, so verdicts are cached (exporter-toolkit
//! does the same) under the SHA-256 of user and password: no password is kept in memory and a
//! repeated push costs one hash and one map lookup. An unknown user is checked against one of
//! the configured hashes (the costliest), so it costs as much as a known user with a wrong
//! password and user names cannot be told apart by timing; bcrypt compares its results in
//! constant time. bcrypt runs in `spawn_blocking`, one check at a time (exporter-toolkit holds
//! a mutex for the same reason), so a flood of wrong passwords costs at most one core and
//! never blocks requests whose verdict is cached.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::{Request, StatusCode};
use tracing::debug;

use super::response::{text, Resp};
use super::{routes, AppState};

/// Most cached verdicts; past it an arbitrary one is dropped (it is only re-verified).
const CACHE_CAPACITY: usize = 1024;

/// The configured users and the verdict cache.
pub struct BasicAuth {
    /// User name to bcrypt hash.
    users: HashMap<String, String>,
    /// The hash unknown users are checked against (the costliest configured one).
    dummy: String,
    /// SHA-256(user, password) to verdict. A std mutex: held for one lookup or insert, never
    /// across an await.
    cache: Mutex<HashMap<[u8; 32], bool>>,
    /// One bcrypt check at a time.
    bcrypt_slot: tokio::sync::Semaphore,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the hashes.
        let mut users: Vec<&String> = self.users.keys().collect();
        users.sort();
        f.debug_struct("BasicAuth")
            .field("users", &users)
            .finish_non_exhaustive()
    }
}

/// Why a request was refused (for the log; the client only sees 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    /// Occurs when there is no `Authorization: Basic` header, or it does not decode to
    /// `user:password`.
    #[error("no basic auth credentials")]
    Missing,
    /// Occurs when the user is not in `basic_auth_users`.
    #[error("unknown user")]
    UnknownUser(String),
    /// Occurs when the password does not match the user's hash.
    #[error("wrong password")]
    WrongPassword(String),
}

impl BasicAuth {
    /// Checks every hash (as Go's `bcrypt.Cost` does: prefix, cost 4..=31, length) and builds
    /// the checker. `users` must not be empty.
    ///
    /// # Errors
    /// `(user, reason)` for the first entry that is not a bcrypt hash.
    pub fn new(users: BTreeMap<String, Option<String>>) -> Result<BasicAuth, (String, String)> {
        let mut checked = HashMap::with_capacity(users.len());
        let mut dummy: Option<(u32, String)> = None;
        for (user, hash) in users {
            let hash = hash.unwrap_or_default();
            let cost = match hash.parse::<bcrypt::HashParts>() {
                Ok(parts) => parts.get_cost(),
                Err(e) => return Err((user, e.to_string())),
            };
            if dummy.as_ref().is_none_or(|(c, _)| cost > *c) {
                dummy = Some((cost, hash.clone()));
            }
            checked.insert(user, hash);
        }
        let (_, dummy) = dummy.expect("basic auth is only built for at least one user");
        Ok(BasicAuth {
            users: checked,
            dummy,
            cache: Mutex::new(HashMap::new()),
            bcrypt_slot: tokio::sync::Semaphore::new(1),
        })
    }

    /// Checks an `Authorization` header; `Ok` holds the user name.
    ///
    /// # Errors
    /// [`Denied`] with the reason.
    pub async fn check(&self, header: Option<&HeaderValue>) -> Result<String, Denied> {
        let (user, password) = header.and_then(credentials).ok_or(Denied::Missing)?;
        let key = cache_key(&user, &password);
        let ok = match self.cached(&key) {
            Some(ok) => ok,
            None => self.verify(&user, password, key).await,
        };
        match (ok, self.users.contains_key(&user)) {
            (true, _) => Ok(user),
            (false, true) => Err(Denied::WrongPassword(user)),
            (false, false) => Err(Denied::UnknownUser(user)),
        }
    }

    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        self.lock_cache().get(key).copied()
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], bool>> {
        self.cache
            .lock()
            .expect("the auth cache lock is never poisoned: nothing panics while holding it")
    }

    async fn verify(&self, user: &str, password: Vec<u8>, key: [u8; 32]) -> bool {
        let _slot = self
            .bcrypt_slot
            .acquire()
            .await
            .expect("the bcrypt semaphore is never closed");
        // Another request with the same credentials may have finished while we waited.
        if let Some(ok) = self.cached(&key) {
            return ok;
        }
        let known = self.users.get(user);
        let hash = known.unwrap_or(&self.dummy).clone();
        let matched =
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        let ok = matched && known.is_some();
        let mut cache = self.lock_cache();
        if cache.len() >= CACHE_CAPACITY {
            let victim = *cache.keys().next().expect("a full cache has a key");
            cache.remove(&victim);
        }
        cache.insert(key, ok);
        ok
    }
}

/// `Basic base64(user:password)` (standard alphabet, padded, as Go's `Request.BasicAuth`).
fn credentials(header: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let value = header.as_bytes();
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&value[6..])
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// SHA-256 over the user's length, the user and the password, so that no `(user, password)`
/// split of the same bytes collides with another.
fn cache_key(user: &str, password: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&(user.len() as u64).to_le_bytes());
    ctx.update(user.as_bytes());
    ctx.update(password);
    ctx.finish()
        .as_ref()
        .try_into()
        .expect("SHA-256 digests are 32 bytes")
}

/// exporter-toolkit's answer to missing or wrong credentials, byte for byte Go's
/// `http.Error(w, "Unauthorized", 401)` plus `WWW-Authenticate: Basic`.
fn unauthorized() -> Resp {
    let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized");
    let headers = r.headers_mut();
    headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    headers.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Checks credentials (with `basic_auth_users`), routes the request, and adds the configured
/// headers. Without a web config this is just `routes::handle`.
pub async fn guard(state: Arc<AppState>, peer: SocketAddr, req: Request<Incoming>) -> Resp {
    let Some(web) = state.config.web_config.clone() else {
        return routes::handle(state, req).await;
    };
    let verdict = match &web.auth {
        Some(auth) => auth.check(req.headers().get(AUTHORIZATION)).await.map(Some),
        None => Ok(None),
    };
    let mut resp = match verdict {
        Ok(_) => routes::handle(state, req).await,
        Err(denied) => {
            let user = match &denied {
                Denied::UnknownUser(u) | Denied::WrongPassword(u) => u.as_str(),
                Denied::Missing => "",
            };
            debug!(peer = %peer, user, method = %req.method(), path = req.uri().path(), reason = %denied, "basic auth failed");
            super::response::holding(unauthorized(), req.into_body(), &state.config)
        }
    };
    // Go sets them before the handler runs, so a handler's own value wins.
    for (name, value) in &web.headers {
        resp.headers_mut()
            .entry(name.clone())
            .or_insert_with(|| value.clone());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_for(users: &[(&str, &str)]) -> BasicAuth {
        BasicAuth::new(
            users
                .iter()
                .map(|(u, p)| ((*u).to_owned(), Some(bcrypt::hash(p, 4).expect("hash"))))
                .collect(),
        )
        .expect("valid hashes")
    }

    fn basic(user_pass: &str) -> HeaderValue {
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_pass);
        HeaderValue::from_str(&format!("Basic {encoded}")).expect("ascii")
    }

    #[tokio::test]
    async fn verdicts() {
        let auth = auth_for(&[("alice", "secret"), ("bob", "hunter2")]);
        let check = |h: Option<HeaderValue>| {
            let auth = &auth;
            async move { auth.check(h.as_ref()).await }
        };
        assert_eq!(check(Some(basic("alice:secret"))).await, Ok("alice".into()));
        assert_eq!(check(Some(basic("bob:hunter2"))).await, Ok("bob".into()));
        // Cached now; still right.
        assert_eq!(check(Some(basic("alice:secret"))).await, Ok("alice".into()));
        assert_eq!(
            check(Some(basic("alice:hunter2"))).await,
            Err(Denied::WrongPassword("alice".into()))
        );
        // An unknown user with a configured user's password is still unknown.
        assert_eq!(
            check(Some(basic("carol:secret"))).await,
            Err(Denied::UnknownUser("carol".into()))
        );
        assert_eq!(check(None).await, Err(Denied::Missing));
        assert_eq!(
            check(Some(HeaderValue::from_static("Bearer x"))).await,
            Err(Denied::Missing)
        );
        assert_eq!(
            check(Some(HeaderValue::from_static("Basic !!!"))).await,
            Err(Denied::Missing)
        );
        assert_eq!(
            check(Some(basic("alicesecret"))).await,
            Err(Denied::Missing)
        );
        // A password may contain a colon; only the first one separates.
        let auth = auth_for(&[("u", "a:b")]);
        assert_eq!(auth.check(Some(&basic("u:a:b"))).await, Ok("u".into()));
    }

    #[test]
    fn cache_keys_separate_user_from_password() {
        assert_ne!(cache_key("ab", b"c"), cache_key("a", b"bc"));
        assert_eq!(cache_key("a", b"bc"), cache_key("a", b"bc"));
    }

    #[test]
    fn bad_hashes_are_refused_with_the_user() {
        let err = BasicAuth::new([("alice".to_owned(), Some("nope".to_owned()))].into())
            .expect_err("not a hash");
        assert_eq!(err.0, "alice");
        let err = BasicAuth::new([("bob".to_owned(), None)].into()).expect_err("empty");
        assert_eq!(err.0, "bob");
    }
}
