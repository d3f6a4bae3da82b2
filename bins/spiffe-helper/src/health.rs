//! The health listener (`health_checks`): `GET <liveness_path>` and `GET <readiness_path>`
//! answer `200` or `503` with spiffe-helper's JSON body,
//! `{"status":"OK","health":{"file_write_statuses":{"x509_write_status":"written","jwt_write_status":{"<file>":"written"}}}}`.
//!
//! Each file set starts `unwritten` and becomes `written` or `failed` at each attempt. Live:
//! nothing `failed`. Ready: everything `written`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::config::Health;

/// The state of one file set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteStatus {
    /// Not attempted yet.
    Unwritten,
    /// The last attempt failed.
    Failed,
    /// The last attempt succeeded.
    Written,
}

#[derive(Debug, Clone, Serialize)]
struct FileWriteStatuses {
    #[serde(skip_serializing_if = "Option::is_none")]
    x509_write_status: Option<WriteStatus>,
    jwt_write_status: BTreeMap<String, WriteStatus>,
}

#[derive(Debug, Clone, Serialize)]
struct HealthBody {
    file_write_statuses: FileWriteStatuses,
}

/// The write statuses, shared by the writers and the listener.
#[derive(Debug, Clone)]
pub struct Status {
    inner: Arc<Mutex<FileWriteStatuses>>,
}

impl Status {
    /// All `unwritten`: the X.509 set if `x509`, and each JWT file (by path).
    pub fn new(x509: bool, jwt_files: impl IntoIterator<Item = String>) -> Self {
        Status {
            inner: Arc::new(Mutex::new(FileWriteStatuses {
                x509_write_status: x509.then_some(WriteStatus::Unwritten),
                jwt_write_status: jwt_files
                    .into_iter()
                    .map(|f| (f, WriteStatus::Unwritten))
                    .collect(),
            })),
        }
    }

    /// Records an X.509 write.
    pub fn set_x509(&self, status: WriteStatus) {
        self.lock().x509_write_status = Some(status);
    }

    /// Records a JWT file write.
    pub fn set_jwt(&self, file: &str, status: WriteStatus) {
        self.lock().jwt_write_status.insert(file.to_owned(), status);
    }

    /// Nothing failed.
    pub fn live(&self) -> bool {
        let s = self.lock();
        s.x509_write_status != Some(WriteStatus::Failed)
            && s.jwt_write_status
                .values()
                .all(|v| *v != WriteStatus::Failed)
    }

    /// Everything written.
    pub fn ready(&self) -> bool {
        let s = self.lock();
        s.x509_write_status
            .is_none_or(|v| v == WriteStatus::Written)
            && s.jwt_write_status
                .values()
                .all(|v| *v == WriteStatus::Written)
    }

    fn body(&self, ok: bool) -> String {
        #[derive(Serialize)]
        struct Body {
            status: &'static str,
            health: HealthBody,
        }
        let body = Body {
            status: if ok { "OK" } else { "Service Unavailable" },
            health: HealthBody {
                file_write_statuses: self.lock().clone(),
            },
        };
        serde_json::to_string(&body).unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FileWriteStatuses> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Binds the listener on every address (`[::]`, else `0.0.0.0`) at the configured port.
///
/// # Errors
///
/// The bind error.
pub async fn bind(config: &Health) -> std::io::Result<TcpListener> {
    let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, config.bind_port));
    match TcpListener::bind(v6).await {
        Ok(l) => Ok(l),
        Err(_) => {
            TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, config.bind_port))).await
        }
    }
}

/// Serves the health endpoints on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, config: Health, status: Status) {
    let config = Arc::new(config);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "health listener cannot accept");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let config = Arc::clone(&config);
        let status = status.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let response = answer(&config, &status, req.uri().path());
                async move { Ok::<_, Infallible>(response) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(5))
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "health connection ended");
            }
        });
    }
}

fn answer(config: &Health, status: &Status, path: &str) -> Response<Full<Bytes>> {
    let ok = if path == config.liveness_path {
        status.live()
    } else if path == config.readiness_path {
        status.ready()
    } else {
        return respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            "404 page not found\n".into(),
        );
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    respond(code, "application/json", status.body(ok))
}

fn respond(code: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = code;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn ready_once_everything_is_written_live_until_something_fails() {
        let status = Status::new(true, ["certs/jwt.token".to_owned()]);
        assert!(status.live());
        assert!(!status.ready());
        status.set_x509(WriteStatus::Written);
        assert!(!status.ready());
        status.set_jwt("certs/jwt.token", WriteStatus::Written);
        assert!(status.ready());
        assert_eq!(
            status.body(true),
            r#"{"status":"OK","health":{"file_write_statuses":{"x509_write_status":"written","jwt_write_status":{"certs/jwt.token":"written"}}}}"#
        );
        status.set_x509(WriteStatus::Failed);
        assert!(!status.live());
        assert!(!status.ready());
    }

    #[test]
    fn without_x509_files_the_x509_status_is_absent() {
        let status = Status::new(false, Vec::new());
        assert!(status.ready());
        assert_eq!(
            status.body(true),
            r#"{"status":"OK","health":{"file_write_statuses":{"jwt_write_status":{}}}}"#
        );
    }

    #[test]
    fn paths_are_matched_exactly() {
        let config = Health {
            bind_port: 0,
            liveness_path: "/live".into(),
            readiness_path: "/ready".into(),
        };
        let status = Status::new(true, Vec::new());
        assert_eq!(answer(&config, &status, "/live").status(), StatusCode::OK);
        assert_eq!(
            answer(&config, &status, "/ready").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            answer(&config, &status, "/other").status(),
            StatusCode::NOT_FOUND
        );
    }
}
