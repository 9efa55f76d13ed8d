//! The second baseline: a WebSocket echo server on fastwebsockets, upgraded through
//! hyper's HTTP/1 server the way fastwebsockets documents it, on the same tokio
//! runtime and listener as the tokio-tungstenite baseline.
//!
//! fastwebsockets frames in place and writes each frame with one vectored write, so it
//! is the "fast library" a team would pick after tungstenite; if the engine's margin
//! holds against it, the margin is not tungstenite's overhead.

use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use crate::echo_baseline::MAX_MESSAGE_BYTES;
use crate::server;

/// Accepts connections forever and serves each on its own task.
///
/// Returns only when `accept` fails in a way that is not about one connection.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let stream = server::accept(&listener).await?;
        tokio::spawn(serve_http(stream));
    }
}

/// Serves one HTTP/1 connection until it upgrades (or ends).
pub async fn serve_http(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let connection = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service_fn(answer_upgrade))
        .with_upgrades();
    let _ = connection.await;
}

/// Answers the upgrade request with 101 and starts the echo once hyper hands the
/// socket over; anything that is not an upgrade gets 400.
async fn answer_upgrade(
    mut request: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    if !upgrade::is_upgrade_request(&request) {
        let mut refusal = Response::new(Empty::new());
        *refusal.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(refusal);
    }
    let (response, upgraded) = upgrade::upgrade(&mut request)?;
    tokio::spawn(async move {
        let _ = echo(upgraded).await;
    });
    Ok(response)
}

/// Echoes text and binary messages until the peer closes; fastwebsockets answers
/// pings and the close itself.
async fn echo(upgraded: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = upgraded.await?;
    ws.set_max_message_size(MAX_MESSAGE_BYTES);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            OpCode::Ping | OpCode::Pong | OpCode::Continuation => {}
        }
    }
}
