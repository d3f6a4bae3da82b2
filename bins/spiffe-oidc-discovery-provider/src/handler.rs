//! The HTTP endpoints: the discovery document and the key set (with SPIRE's provider's shapes,
//! statuses and headers), and the health checks.

use std::time::{Duration, Instant};

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use serde::Serialize;
use tokio::sync::watch;

use crate::config::{Documents, HealthChecks};
use crate::jwks::{self, Published};
use crate::url::join_path;

/// A response.
pub(crate) type Resp = Response<Full<Bytes>>;

/// The discovery document (field order as SPIRE writes it).
#[derive(Debug, Serialize)]
struct Discovery<'a> {
    issuer: &'a str,
    jwks_uri: &'a str,
    authorization_endpoint: &'static str,
    response_types_supported: [&'static str; 1],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: [&'static str; 3],
}

/// Go's `http.Error`: a text body ending in a newline.
fn text_error(status: StatusCode, message: &str) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn json(body: Vec<u8>) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// The scheme a proxy says the client used (`X-Forwarded-Proto`, `X-Forwarded-Scheme`, or
/// `proto=` of `Forwarded`), lower case.
fn forwarded_scheme(headers: &HeaderMap) -> Option<String> {
    if let Some(p) = header_str(headers, "x-forwarded-proto")
        .or_else(|| header_str(headers, "x-forwarded-scheme"))
    {
        return Some(p.to_ascii_lowercase());
    }
    let forwarded = header_str(headers, "forwarded")?.to_ascii_lowercase();
    let at = forwarded.find("proto=")?;
    let value = &forwarded[at + "proto=".len()..];
    ["https", "http"]
        .into_iter()
        .find(|p| value.starts_with(p))
        .map(str::to_owned)
}

/// The host the client asked for: `X-Forwarded-Host` (behind a proxy), else `Host`, else the
/// request target's authority (HTTP/2).
fn request_host<B>(req: &Request<B>) -> String {
    header_str(req.headers(), "x-forwarded-host")
        .or_else(|| header_str(req.headers(), "host"))
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default()
}

/// The discovery document and key set endpoints.
#[derive(Debug, Clone)]
pub(crate) struct Handler {
    docs: Documents,
    keys: watch::Receiver<Published>,
    well_known_path: String,
    keys_path: String,
}

impl Handler {
    /// Serves `docs` with the keys published on `keys`.
    pub(crate) fn new(docs: Documents, keys: watch::Receiver<Published>) -> Self {
        let well_known_path = join_path(&docs.path_prefix, "/.well-known/openid-configuration");
        let keys_path = join_path(&docs.path_prefix, "/keys");
        Handler {
            docs,
            keys,
            well_known_path,
            keys_path,
        }
    }

    /// Answers a request that arrived over TLS or not.
    pub(crate) fn handle<B>(&self, req: &Request<B>, tls: bool) -> Resp {
        let path = req.uri().path();
        if path == self.well_known_path {
            self.well_known(req, tls)
        } else if path == self.keys_path {
            self.serve_keys(req)
        } else {
            text_error(StatusCode::NOT_FOUND, "404 page not found")
        }
    }

    fn well_known<B>(&self, req: &Request<B>, tls: bool) -> Resp {
        if req.method() != Method::GET {
            return text_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        let host = request_host(req);
        let scheme = if self.docs.allow_insecure_scheme
            && !tls
            && forwarded_scheme(req.headers()).as_deref() != Some("https")
        {
            "http"
        } else {
            "https"
        };
        if let Err(e) = self.docs.domains.check_host(&host) {
            tracing::debug!(host = %host, error = %e, "discovery document refused");
            return text_error(StatusCode::BAD_REQUEST, &e.to_string());
        }
        let issuer = match &self.docs.jwt_issuer {
            Some(url) => url.as_str().to_owned(),
            None if self.docs.path_prefix == "/" => format!("{scheme}://{host}"),
            None => format!("{scheme}://{host}{}", self.docs.path_prefix),
        };
        let jwks_uri = match (&self.docs.jwks_uri, &self.docs.jwt_issuer) {
            (Some(uri), _) => uri.as_str().to_owned(),
            (None, Some(issuer)) => issuer.keys_url(),
            (None, None) => format!(
                "{scheme}://{host}{}",
                join_path(&self.docs.path_prefix, "keys")
            ),
        };
        let doc = Discovery {
            issuer: &issuer,
            jwks_uri: &jwks_uri,
            authorization_endpoint: "",
            response_types_supported: ["id_token"],
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: ["RS256", "ES256", "ES384"],
        };
        match serde_json::to_vec_pretty(&doc) {
            Ok(body) => json(body),
            Err(_) => text_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed to marshal document",
            ),
        }
    }

    fn serve_keys<B>(&self, req: &Request<B>) -> Resp {
        if req.method() != Method::GET {
            return text_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        let Some(set) = self.keys.borrow().keys.clone() else {
            return text_error(StatusCode::INTERNAL_SERVER_ERROR, "document not available");
        };
        let modified = httpdate::fmt_http_date(set.modified);
        let not_modified = header_str(req.headers(), "if-modified-since")
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|since| {
                httpdate::parse_http_date(&modified)
                    .ok()
                    .map(|m| m <= since)
            })
            .unwrap_or(false);
        let mut resp = if not_modified {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            json(jwks::render(&set, self.docs.set_key_use))
        };
        let h = resp.headers_mut();
        // Clients must not cache the keys: they change at rotation.
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-store, must-revalidate"),
        );
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        h.insert(header::EXPIRES, HeaderValue::from_static("0"));
        if let Ok(v) = HeaderValue::from_str(&modified) {
            h.insert(header::LAST_MODIFIED, v);
        }
        resp
    }
}

/// SPIRE's health thresholds: a key set fetched this long ago still counts (five poll
/// intervals, at least three minutes).
pub(crate) fn health_threshold(poll_interval: Duration) -> Duration {
    poll_interval
        .saturating_mul(5)
        .max(Duration::from_secs(180))
}

/// The health checks endpoints.
#[derive(Debug, Clone)]
pub(crate) struct Health {
    config: HealthChecks,
    keys: watch::Receiver<Published>,
    threshold: Duration,
    started: Instant,
}

impl Health {
    /// Health checks of the keys published on `keys`.
    pub(crate) fn new(
        config: HealthChecks,
        keys: watch::Receiver<Published>,
        threshold: Duration,
    ) -> Self {
        Health {
            config,
            keys,
            threshold,
            started: Instant::now(),
        }
    }

    /// Answers a request: 200 or 500 with an empty body.
    pub(crate) fn handle<B>(&self, req: &Request<B>) -> Resp {
        let path = req.uri().path();
        let (ready_path, live_path) = (
            path == self.config.ready_path,
            path == self.config.live_path,
        );
        if !ready_path && !live_path {
            return text_error(StatusCode::NOT_FOUND, "404 page not found");
        }
        if req.method() != Method::GET {
            return text_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        let last_poll = self.keys.borrow().last_poll;
        let fresh = last_poll.is_some_and(|t| t.elapsed() < self.threshold);
        let ok = if ready_path {
            // Ready: keys were fetched, recently.
            fresh
        } else {
            // Live: keys fetched recently, or none yet but still within the threshold of the
            // start.
            match last_poll {
                None => self.started.elapsed() < self.threshold,
                Some(_) => fresh,
            }
        };
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = if ok {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DomainPolicy;
    use crate::jwks::{Authority, KeyStore};
    use crate::url::HttpUrl;
    use rcgen::PublicKeyData;

    fn docs(domains: &[&str]) -> Documents {
        Documents {
            domains: DomainPolicy::allow_list(
                &domains.iter().map(|d| (*d).to_owned()).collect::<Vec<_>>(),
            )
            .unwrap(),
            allow_insecure_scheme: false,
            set_key_use: false,
            jwt_issuer: None,
            jwks_uri: None,
            path_prefix: "/".into(),
        }
    }

    fn get(path: &str, host: &str) -> Request<()> {
        Request::get(path).header("host", host).body(()).unwrap()
    }

    fn body(resp: &Resp) -> String {
        use http_body_util::BodyExt;
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(resp.body().clone().collect())
            .unwrap()
            .to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn the_discovery_document_as_spire_writes_it() {
        let (_store, rx) = KeyStore::new();
        let h = Handler::new(docs(&["localhost", "domain.test"]), rx);
        let r = h.handle(&get("/.well-known/openid-configuration", "localhost"), true);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            body(&r),
            "{\n  \"issuer\": \"https://localhost\",\n  \"jwks_uri\": \"https://localhost/keys\",\n  \"authorization_endpoint\": \"\",\n  \"response_types_supported\": [\n    \"id_token\"\n  ],\n  \"subject_types_supported\": [\n    \"public\"\n  ],\n  \"id_token_signing_alg_values_supported\": [\n    \"RS256\",\n    \"ES256\",\n    \"ES384\"\n  ]\n}"
        );
        let r = h.handle(
            &get("/.well-known/openid-configuration", "bad.domain.test"),
            true,
        );
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(body(&r), "domain \"bad.domain.test\" is not allowed\n");
        let put = Request::put("/keys").body(()).unwrap();
        assert_eq!(
            h.handle(&put, true).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        let r = h.handle(&get("/keys", "localhost"), true);
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body(&r), "document not available\n");
        assert_eq!(
            h.handle(&get("/other", "localhost"), true).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn schemes_hosts_and_prefixes() {
        let (_store, rx) = KeyStore::new();
        let mut d = docs(&["domain.test"]);
        d.allow_insecure_scheme = true;
        d.path_prefix = "/instance/1".into();
        let h = Handler::new(d.clone(), rx.clone());
        let doc = |r: Resp| serde_json::from_str::<serde_json::Value>(&body(&r)).unwrap();
        let path = "/instance/1/.well-known/openid-configuration";
        let v = doc(h.handle(&get(path, "domain.test:8080"), false));
        assert_eq!(v["issuer"], "http://domain.test:8080/instance/1");
        assert_eq!(v["jwks_uri"], "http://domain.test:8080/instance/1/keys");
        // Behind a TLS proxy.
        let req = Request::get(path)
            .header("host", "127.0.0.1:8080")
            .header("x-forwarded-host", "domain.test")
            .header("x-forwarded-scheme", "https")
            .body(())
            .unwrap();
        let v = doc(h.handle(&req, false));
        assert_eq!(v["issuer"], "https://domain.test/instance/1");
        let req = Request::get(path)
            .header("host", "domain.test")
            .header("forwarded", "for=1.2.3.4;Proto=HTTPS")
            .body(())
            .unwrap();
        assert_eq!(
            doc(h.handle(&req, false))["issuer"],
            "https://domain.test/instance/1"
        );
        // A fixed issuer: jwks_uri follows its path unless set too.
        d.jwt_issuer =
            Some(HttpUrl::parse("https://domain.test/some/issuer/path/issuer1").unwrap());
        let h = Handler::new(d.clone(), rx.clone());
        let v = doc(h.handle(&get(path, "domain.test"), false));
        assert_eq!(v["issuer"], "https://domain.test/some/issuer/path/issuer1");
        assert_eq!(
            v["jwks_uri"],
            "https://domain.test/some/issuer/path/issuer1/keys"
        );
        d.jwks_uri = Some(HttpUrl::parse("http://other.test/keys").unwrap());
        let h = Handler::new(d, rx);
        let v = doc(h.handle(&get(path, "domain.test"), false));
        assert_eq!(v["jwks_uri"], "http://other.test/keys");
        // The fixed issuer does not lift the host check.
        assert_eq!(
            h.handle(&get(path, "evil.test"), false).status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn keys_with_cache_headers_and_not_modified() {
        let (store, rx) = KeyStore::new();
        let h = Handler::new(docs(&["localhost"]), rx);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        store.update(vec![Authority {
            kid: "k1".into(),
            key: spiffe_core::PublicKey::from_spki_der(&key.subject_public_key_info()).unwrap(),
        }]);
        let r = h.handle(&get("/keys", "anything"), false);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CACHE_CONTROL],
            "no-cache, no-store, must-revalidate"
        );
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let v: serde_json::Value = serde_json::from_str(&body(&r)).unwrap();
        assert_eq!(v["keys"][0]["kid"], "k1");
        assert_eq!(v["keys"][0]["alg"], "ES256");
        let modified = r.headers()[header::LAST_MODIFIED]
            .to_str()
            .unwrap()
            .to_owned();
        let req = Request::get("/keys")
            .header("if-modified-since", &modified)
            .body(())
            .unwrap();
        let r = h.handle(&req, false);
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(body(&r), "");
    }

    #[test]
    fn health_follows_the_last_fetch() {
        let (store, rx) = KeyStore::new();
        let cfg = HealthChecks {
            port: 0,
            live_path: "/live".into(),
            ready_path: "/ready".into(),
        };
        let h = Health::new(cfg.clone(), rx.clone(), Duration::from_secs(180));
        let status = |h: &Health, p: &str| h.handle(&get(p, "x")).status();
        assert_eq!(status(&h, "/ready"), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(&h, "/live"), StatusCode::OK);
        assert_eq!(status(&h, "/other"), StatusCode::NOT_FOUND);
        store.update(Vec::new());
        assert_eq!(status(&h, "/ready"), StatusCode::OK);
        // Past the threshold: neither ready nor live.
        let stale = Health::new(cfg, rx, Duration::ZERO);
        assert_eq!(status(&stale, "/ready"), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(&stale, "/live"), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            health_threshold(Duration::from_secs(10)),
            Duration::from_secs(180)
        );
        assert_eq!(
            health_threshold(Duration::from_secs(60)),
            Duration::from_secs(300)
        );
    }
}
