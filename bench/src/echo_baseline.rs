//! The tokio baseline: a WebSocket echo server built the ordinary way with tokio and
//! tokio-tungstenite, tuned fairly (small buffers, TCP_NODELAY, no artificial work) so
//! that comparing the engine with it says something.
//!
//! Every path upgrades (the benchmark only uses `/echo`). Text and binary messages are
//! echoed unchanged; pings are answered by tungstenite itself; a close is answered and
//! the connection ends.

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Largest frame payload the baseline accepts, as the engine's default.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Largest message the baseline accepts, as the engine's default.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The tungstenite configuration of every connection: a 4 KiB read buffer and no
/// write buffering, so an idle connection holds little memory and every echo is
/// written at once.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_MESSAGE_BYTES * 2)
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .max_message_size(Some(MAX_MESSAGE_BYTES))
}

/// Accepts connections forever and serves each on its own task.
///
/// Returns only when `accept` fails in a way that is not about one connection.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let stream = crate::server::accept(&listener).await?;
        tokio::spawn(serve_connection(stream));
    }
}

/// Upgrades one connection and echoes until the peer closes or misbehaves.
pub async fn serve_connection(stream: TcpStream) {
    // Echo latency matters more than packet count: never wait for Nagle.
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) =
        tokio_tungstenite::accept_async_with_config(stream, Some(websocket_config())).await
    else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Text(_) | Message::Binary(_) => {
                if ws.send(message).await.is_err() {
                    return;
                }
            }
            // tungstenite queues the pong (or the close reply) itself and writes it
            // on the next read or flush.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            Message::Close(_) => {
                let _ = ws.flush().await;
                return;
            }
        }
    }
}
