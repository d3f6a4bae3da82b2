//! [`WorkloadApiService`]: the `SpiffeWorkloadAPI` gRPC service over an [`IdentityProvider`].

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt as _};
use spiffe_core::jwt::Validation;
use spiffe_core::{JwtSvid, SpiffeId};
use spiffe_proto::workload::spiffe_workload_api_server::{
    SpiffeWorkloadApi, SpiffeWorkloadApiServer,
};
use spiffe_proto::workload::{
    JwtBundlesRequest, JwtBundlesResponse, JwtsvidRequest, JwtsvidResponse, ValidateJwtsvidRequest,
    ValidateJwtsvidResponse, WitBundlesRequest, WitBundlesResponse, WitsvidRequest,
    WitsvidResponse, X509BundlesRequest, X509BundlesResponse, X509svidRequest, X509svidResponse,
};
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{CallerInfo, IdentityProvider, WorkloadState, render};
use crate::security_header;

/// A boxed stream of responses.
pub type ResponseStream<M> = Pin<Box<dyn Stream<Item = Result<M, Status>> + Send + 'static>>;

/// The SPIFFE Workload API, served from an [`IdentityProvider`].
///
/// - A request without `workload.spiffe.io: true` is refused with InvalidArgument before
///   anything else happens (SPIFFE_Workload_Endpoint.md 3, 6).
/// - The caller is the peer of the UNIX socket, from the kernel (`SO_PEERCRED`, tonic's
///   [`tonic::transport::server::UdsConnectInfo`]). A [`CallerInfo`] request extension put in
///   place by the transport takes precedence (for endpoints that identify callers otherwise).
/// - `FetchX509SVID`, `FetchX509Bundles` and `FetchJWTBundles` send the full state at once and
///   then again whenever the part they carry changes; an update that changes nothing they carry
///   sends nothing. When the caller's state loses every SVID (or bundle), the stream ends with
///   PermissionDenied, the standard's way to redact everything.
/// - `FetchWITSVID` and `FetchWITBundles` answer Unimplemented (the WIT profile is optional).
///
/// Cloning is cheap and clones share one shutdown switch ([`WorkloadApiService::shutdown`]).
#[derive(Clone)]
pub struct WorkloadApiService {
    provider: Arc<dyn IdentityProvider>,
    shutdown: Arc<watch::Sender<bool>>,
}

impl std::fmt::Debug for WorkloadApiService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadApiService")
            .field("shut_down", &*self.shutdown.borrow())
            .finish_non_exhaustive()
    }
}

impl WorkloadApiService {
    /// A service over `provider`.
    pub fn new(provider: impl IdentityProvider) -> Self {
        Self::from_arc(Arc::new(provider))
    }

    /// A service over a shared provider.
    pub fn from_arc(provider: Arc<dyn IdentityProvider>) -> Self {
        WorkloadApiService {
            provider,
            shutdown: Arc::new(watch::channel(false).0),
        }
    }

    /// Ends every open stream (with Unavailable, so clients reconnect) and every stream opened
    /// afterwards. A graceful server shutdown needs it: streams otherwise never finish.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// The tonic server wrapping this service.
    pub fn into_server(self) -> SpiffeWorkloadApiServer<Self> {
        SpiffeWorkloadApiServer::new(self)
    }

    /// Refuses a request without the security header (InvalidArgument).
    fn check_header<T>(request: &Request<T>) -> Result<(), Status> {
        if security_header::is_present(request.metadata()) {
            Ok(())
        } else {
            Err(Status::invalid_argument(
                "security header missing from request (workload.spiffe.io: true)",
            ))
        }
    }

    /// Checks the security header, then finds the caller.
    fn admit<T>(request: &Request<T>) -> Result<CallerInfo, Status> {
        Self::check_header(request)?;
        caller_of(request)
    }

    /// Subscribes to the caller's state and follows it with `render`.
    async fn follow<M, F>(
        &self,
        caller: CallerInfo,
        rpc: &'static str,
        render: F,
    ) -> Result<Response<ResponseStream<M>>, Status>
    where
        M: PartialEq + Clone + Send + 'static,
        F: Fn(&WorkloadState, &CallerInfo) -> Result<M, Status> + Send + 'static,
    {
        let mut rx = self.provider.subscribe(caller.clone()).await.map_err(|e| {
            tracing::info!(error = %e, "caller refused");
            Status::from(e)
        })?;
        let state = Arc::clone(&rx.borrow_and_update());
        let first = render(&state, &caller).inspect_err(|status| {
            tracing::info!(code = ?status.code(), message = status.message(), "caller refused");
        })?;
        tracing::debug!("stream opened");
        let follower = Follower {
            rx,
            shutdown: self.shutdown.subscribe(),
            render,
            caller,
            rpc,
            last: first.clone(),
        };
        let stream = futures::stream::once(async move { Ok(first) })
            .chain(futures::stream::unfold(Some(follower), Follower::next));
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The state of one open stream after its first message.
struct Follower<M, F> {
    rx: watch::Receiver<Arc<WorkloadState>>,
    shutdown: watch::Receiver<bool>,
    render: F,
    caller: CallerInfo,
    rpc: &'static str,
    last: M,
}

impl<M, F> Follower<M, F>
where
    M: PartialEq + Clone + Send + 'static,
    F: Fn(&WorkloadState, &CallerInfo) -> Result<M, Status> + Send + 'static,
{
    /// Waits for the next message that differs from the last one sent. `None` ends the stream.
    async fn next(this: Option<Self>) -> Option<(Result<M, Status>, Option<Self>)> {
        let mut this = this?;
        loop {
            let changed = tokio::select! {
                _ = this.shutdown.wait_for(|down| *down) => None,
                changed = this.rx.changed() => Some(changed.is_ok()),
            };
            match changed {
                None => {
                    let status = this.ended("Workload API endpoint is shutting down");
                    return Some((Err(status), None));
                }
                Some(false) => {
                    let status = this.ended("identity provider ended the caller's subscription");
                    return Some((Err(status), None));
                }
                Some(true) => {}
            }
            let state = Arc::clone(&this.rx.borrow_and_update());
            match (this.render)(&state, &this.caller) {
                Ok(message) if message == this.last => continue,
                Ok(message) => {
                    tracing::debug!(rpc = this.rpc, caller = %this.caller, "update sent");
                    this.last = message.clone();
                    return Some((Ok(message), Some(this)));
                }
                Err(status) => {
                    tracing::info!(
                        rpc = this.rpc,
                        caller = %this.caller,
                        code = ?status.code(),
                        message = status.message(),
                        "stream ended"
                    );
                    return Some((Err(status), None));
                }
            }
        }
    }

    /// Logs and returns the Unavailable status that ends the stream (clients reconnect).
    fn ended(&self, why: &'static str) -> Status {
        tracing::debug!(rpc = self.rpc, caller = %self.caller, why, "stream ended");
        Status::unavailable(why)
    }
}

/// The caller of a request: a [`CallerInfo`] extension, or the UNIX socket's peer credentials
/// and the pidfd taken at accept.
fn caller_of<T>(request: &Request<T>) -> Result<CallerInfo, Status> {
    if let Some(caller) = request.extensions().get::<CallerInfo>() {
        return Ok(caller.clone());
    }
    let peer = request.extensions().get::<super::peer::PeerInfo>();
    let pidfd = peer.and_then(|p| p.pidfd.clone());
    let cred = peer
        .map(|p| &p.uds)
        .or_else(|| {
            request
                .extensions()
                .get::<tonic::transport::server::UdsConnectInfo>()
        })
        .and_then(|info| info.peer_cred)
        .ok_or_else(|| {
            Status::internal(
                "caller credentials unavailable: the Workload API must be served on a UNIX socket",
            )
        })?;
    let pid = cred
        .pid()
        .ok_or_else(|| Status::internal("the kernel reported no PID for the caller"))?;
    Ok(CallerInfo {
        pid,
        uid: cred.uid(),
        gid: cred.gid(),
        pidfd,
    })
}

/// The most audiences one JWT-SVID request may name.
pub const MAX_AUDIENCES: usize = 16;
/// The longest audience, in bytes.
pub const MAX_AUDIENCE_LEN: usize = 512;

/// At least one audience, none empty, at most [`MAX_AUDIENCES`] of at most
/// [`MAX_AUDIENCE_LEN`] bytes each: a caller cannot make the agent hold (and the server sign)
/// arbitrarily large tokens.
fn check_audiences(audience: &[String]) -> Result<(), Status> {
    if audience.is_empty() || audience.iter().any(String::is_empty) {
        return Err(Status::invalid_argument(
            "audience must be specified (at least one, none empty)",
        ));
    }
    if audience.len() > MAX_AUDIENCES {
        return Err(Status::invalid_argument(format!(
            "audience: {} values given, at most {MAX_AUDIENCES} are allowed",
            audience.len()
        )));
    }
    if let Some(long) = audience.iter().find(|a| a.len() > MAX_AUDIENCE_LEN) {
        return Err(Status::invalid_argument(format!(
            "audience: a value of {} bytes given, at most {MAX_AUDIENCE_LEN} bytes are allowed",
            long.len()
        )));
    }
    Ok(())
}

fn span(rpc: &'static str, caller: &CallerInfo) -> tracing::Span {
    tracing::info_span!(
        "workload_api",
        rpc,
        pid = caller.pid,
        uid = caller.uid,
        gid = caller.gid
    )
}

#[tonic::async_trait]
impl SpiffeWorkloadApi for WorkloadApiService {
    type FetchX509SVIDStream = ResponseStream<X509svidResponse>;
    type FetchX509BundlesStream = ResponseStream<X509BundlesResponse>;
    type FetchJWTBundlesStream = ResponseStream<JwtBundlesResponse>;
    type FetchWITSVIDStream = ResponseStream<WitsvidResponse>;
    type FetchWITBundlesStream = ResponseStream<WitBundlesResponse>;

    async fn fetch_x509svid(
        &self,
        request: Request<X509svidRequest>,
    ) -> Result<Response<Self::FetchX509SVIDStream>, Status> {
        let caller = Self::admit(&request)?;
        let span = span("FetchX509SVID", &caller);
        self.follow(caller, "FetchX509SVID", render::x509_svid_response)
            .instrument(span)
            .await
    }

    async fn fetch_x509_bundles(
        &self,
        request: Request<X509BundlesRequest>,
    ) -> Result<Response<Self::FetchX509BundlesStream>, Status> {
        let caller = Self::admit(&request)?;
        let span = span("FetchX509Bundles", &caller);
        self.follow(caller, "FetchX509Bundles", render::x509_bundles_response)
            .instrument(span)
            .await
    }

    async fn fetch_jwtsvid(
        &self,
        request: Request<JwtsvidRequest>,
    ) -> Result<Response<JwtsvidResponse>, Status> {
        let caller = Self::admit(&request)?;
        let request = request.into_inner();
        let span = span("FetchJWTSVID", &caller);
        async move {
            check_audiences(&request.audience)?;
            let spiffe_id = match request.spiffe_id.as_str() {
                "" => None,
                s => Some(SpiffeId::parse(s).map_err(|e| {
                    Status::invalid_argument(format!("spiffe_id {s:?} is not a SPIFFE ID: {e}"))
                })?),
            };
            let svids = self
                .provider
                .fetch_jwt_svids(caller.clone(), request.audience, spiffe_id)
                .await
                .inspect_err(|e| tracing::info!(error = %e, "caller refused"))?;
            let svids = render::jwt_svids(&svids);
            if svids.is_empty() {
                return Err(Status::permission_denied(format!(
                    "no JWT-SVID issued to caller {caller}"
                )));
            }
            tracing::debug!(count = svids.len(), "JWT-SVIDs issued");
            Ok(Response::new(JwtsvidResponse { svids }))
        }
        .instrument(span)
        .await
    }

    async fn fetch_jwt_bundles(
        &self,
        request: Request<JwtBundlesRequest>,
    ) -> Result<Response<Self::FetchJWTBundlesStream>, Status> {
        let caller = Self::admit(&request)?;
        let span = span("FetchJWTBundles", &caller);
        self.follow(caller, "FetchJWTBundles", render::jwt_bundles_response)
            .instrument(span)
            .await
    }

    async fn validate_jwtsvid(
        &self,
        request: Request<ValidateJwtsvidRequest>,
    ) -> Result<Response<ValidateJwtsvidResponse>, Status> {
        let caller = Self::admit(&request)?;
        let request = request.into_inner();
        let span = span("ValidateJWTSVID", &caller);
        async move {
            if request.audience.is_empty() {
                return Err(Status::invalid_argument("audience must be specified"));
            }
            check_audiences(std::slice::from_ref(&request.audience))?;
            if request.svid.is_empty() {
                return Err(Status::invalid_argument("svid must be specified"));
            }
            let rx = self.provider.subscribe(caller.clone()).await?;
            let state = Arc::clone(&rx.borrow());
            if state.jwt_bundles.is_empty() {
                return Err(Status::permission_denied(format!(
                    "no JWT bundle available to caller {caller}"
                )));
            }
            let audiences = [request.audience.as_str()];
            let svid = JwtSvid::validate(&request.svid, &*state, &Validation::new(&audiences))
                .map_err(|e| {
                    tracing::info!(error = %e, "JWT-SVID refused");
                    Status::invalid_argument(format!("JWT-SVID refused: {e}"))
                })?;
            tracing::debug!(spiffe_id = %svid.spiffe_id(), "JWT-SVID validated");
            Ok(Response::new(ValidateJwtsvidResponse {
                spiffe_id: svid.spiffe_id().to_string(),
                claims: Some(render::claims_struct(svid.claims())),
            }))
        }
        .instrument(span)
        .await
    }

    async fn fetch_witsvid(
        &self,
        request: Request<WitsvidRequest>,
    ) -> Result<Response<Self::FetchWITSVIDStream>, Status> {
        Self::check_header(&request)?;
        Err(Status::unimplemented(
            "the WIT-SVID profile is not supported by this endpoint",
        ))
    }

    async fn fetch_wit_bundles(
        &self,
        request: Request<WitBundlesRequest>,
    ) -> Result<Response<Self::FetchWITBundlesStream>, Status> {
        Self::check_header(&request)?;
        Err(Status::unimplemented(
            "the WIT-SVID profile is not supported by this endpoint",
        ))
    }
}
