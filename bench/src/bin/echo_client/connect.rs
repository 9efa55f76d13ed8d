//! Opening the connections: TCP (with TCP_NODELAY, as any latency-minded client) and
//! tokio-tungstenite's client handshake, a bounded number at a time.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

/// One open connection.
pub type Ws = WebSocketStream<TcpStream>;

/// How connections are opened.
#[derive(Debug, Clone)]
pub struct Config {
    /// `ws://host:port/path`.
    pub url: String,
    /// Attempts in progress at once.
    pub concurrency: usize,
    /// How long opening all of them may take.
    pub timeout: Duration,
    /// tungstenite's read buffer per connection.
    pub read_buffer_bytes: usize,
    /// Largest message accepted.
    pub max_message_bytes: usize,
}

/// What opening `n` connections gave.
#[derive(Debug)]
pub struct Opened {
    /// The connections that upgraded.
    pub streams: Vec<Ws>,
    /// Attempts that failed (refused, reset, handshake refused, timed out).
    pub failed: u32,
    /// The first few failure messages.
    pub errors: Vec<String>,
    /// From the first attempt to the last outcome.
    pub seconds: f64,
}

/// Failure messages kept for the report.
const MAX_ERRORS: usize = 8;

/// Opens `n` connections to `config.url`.
pub async fn open(config: &Config, n: u32) -> anyhow::Result<Opened> {
    let addr = socket_addr(&config.url)?;
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(config.read_buffer_bytes)
        .max_message_size(Some(config.max_message_bytes))
        .max_frame_size(Some(config.max_message_bytes));
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + config.timeout);
    let mut attempts = futures_util::stream::iter(0..n)
        .map(|_| tokio::time::timeout_at(deadline, open_one(&config.url, &addr, ws_config)))
        .buffer_unordered(config.concurrency.max(1));
    let mut opened = Opened {
        streams: Vec::with_capacity(n as usize),
        failed: 0,
        errors: Vec::new(),
        seconds: 0.0,
    };
    while let Some(outcome) = attempts.next().await {
        let error = match outcome {
            Ok(Ok(ws)) => {
                opened.streams.push(ws);
                continue;
            }
            Ok(Err(err)) => format!("{err:#}"),
            Err(_) => "connect timeout".to_owned(),
        };
        opened.failed += 1;
        if opened.errors.len() < MAX_ERRORS {
            opened.errors.push(error);
        }
    }
    opened.seconds = started.elapsed().as_secs_f64();
    Ok(opened)
}

pub async fn open_one(url: &str, addr: &str, config: WebSocketConfig) -> anyhow::Result<Ws> {
    let tcp = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    tcp.set_nodelay(true).context("setting TCP_NODELAY")?;
    let (ws, _response) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
        .await
        .context("websocket upgrade")?;
    Ok(ws)
}

/// `host:port` of a `ws://` URL (port 80 when absent).
pub fn socket_addr(url: &str) -> anyhow::Result<String> {
    let uri: Uri = url.parse().with_context(|| format!("bad url {url:?}"))?;
    if uri.scheme_str() != Some("ws") {
        bail!("only ws:// urls are supported, got {url:?}");
    }
    let host = uri.host().context("url without a host")?;
    Ok(format!("{host}:{}", uri.port_u16().unwrap_or(80)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ws_urls_with_a_host_are_taken() {
        assert_eq!(
            socket_addr("ws://127.0.0.1:9000/echo").unwrap(),
            "127.0.0.1:9000"
        );
        assert_eq!(socket_addr("ws://localhost/").unwrap(), "localhost:80");
        assert!(socket_addr("http://127.0.0.1:9000/").is_err());
        assert!(socket_addr("not a url").is_err());
    }
}
