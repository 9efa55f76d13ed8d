//! The hub's inbound HTTP listener: hyper's HTTP/1.1 on a small tokio runtime of the
//! hub's own (`hub.http_threads` threads), never on a shard. A connection cap, a
//! header read timeout and a body read timeout bound what a slow or hostile client
//! can hold; the accept loop backs off and carries on after errors such as EMFILE.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::{Account, HubError, Shared};
use crate::adapter::{HttpReply, InboundRequest, Method, RefusalReason};
use crate::metrics::UNROUTED;

/// How long the accept loop pauses after an accept error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The running listener.
#[derive(Debug)]
pub(super) struct HttpServer {
    runtime: tokio::runtime::Runtime,
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl HttpServer {
    pub(super) fn start(addr: SocketAddr, shared: &Arc<Shared>) -> Result<Self, HubError> {
        let bind = |source| HubError::Bind { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let local_addr = listener.local_addr().map_err(bind)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(shared.limits.http_threads)
            .thread_name("channels-http")
            .enable_io()
            .enable_time()
            .build()
            .map_err(HubError::Start)?;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener).map_err(HubError::Start)?
        };
        let (stop, stopped) = watch::channel(false);
        runtime.spawn(accept_loop(listener, Arc::clone(shared), stopped));
        Ok(Self {
            runtime,
            local_addr,
            stop,
        })
    }

    pub(super) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub(super) fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        self.runtime.shutdown_timeout(grace);
    }
}

/// Decrements the open-connection count when a connection ends.
struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let accepted = tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                if open.fetch_add(1, Ordering::Relaxed) >= shared.limits.max_connections {
                    open.fetch_sub(1, Ordering::Relaxed);
                    shared
                        .metrics
                        .account(UNROUTED)
                        .refused(RefusalReason::Busy);
                    continue;
                }
                let guard = OpenConnection(Arc::clone(&open));
                tokio::spawn(serve_connection(stream, Arc::clone(&shared), guard));
            }
            Err(error) => {
                tracing::warn!(%error, "channels listener: accept failed; retrying");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>, _open: OpenConnection) {
    let _ = stream.set_nodelay(true);
    let header_timeout = Duration::from_millis(shared.limits.header_read_timeout_ms);
    let service = hyper::service::service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(respond(&shared, request).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let _ = builder
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn respond(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let routes = shared.routes();
    let Some(account) = routes.by_path(request.uri().path()).cloned() else {
        shared
            .metrics
            .account(UNROUTED)
            .refused(RefusalReason::UnknownPath);
        return to_response(RefusalReason::UnknownPath.default_reply());
    };
    drop(routes);
    to_response(handle(shared, &account, request).await)
}

async fn handle(shared: &Shared, account: &Account, request: Request<Incoming>) -> HttpReply {
    let max = account.spec.limits.max_body_bytes;
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return account.refuse(RefusalReason::TooLarge);
    }
    let (parts, body) = request.into_parts();
    let body_timeout = Duration::from_millis(shared.limits.body_read_timeout_ms);
    let body = match tokio::time::timeout(body_timeout, Limited::new(body, max).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            return account.refuse(RefusalReason::TooLarge);
        }
        Ok(Err(_)) | Err(_) => return account.refuse(RefusalReason::Malformed),
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let method = match parts.method {
        hyper::Method::GET => Method::Get,
        hyper::Method::POST => Method::Post,
        _ => Method::Other,
    };
    let inbound = InboundRequest {
        method,
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    account.handle_inbound(&inbound, shared.sink.as_ref(), shared.clock.now())
}

fn to_response(reply: HttpReply) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(reply.content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}
