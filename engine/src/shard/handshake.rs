//! The first bytes of a connection: the HTTP request head, answered with a WebSocket
//! upgrade (`/echo`, `/v1/ws`), a health report (`/health`), or an HTTP error.
//!
//! A head that arrives in one piece is parsed straight from the receive buffer; only a
//! head cut across reads is copied, up to `--max-handshake-bytes`.

use crate::buffer::ThinBuf;
use switchboard_protocol::chat::{Encoding, ServerFrame};
use switchboard_protocol::http::{self, Request};

use super::conn::{Endpoint, Phase};
use super::Shard;

/// What to do with a complete request head.
enum Decision {
    /// Switch to WebSocket.
    Upgrade {
        endpoint: Endpoint,
        accept: [u8; http::ACCEPT_LEN],
        protocol: Option<&'static str>,
        user: Option<Box<str>>,
    },
    /// Answer and close.
    Respond(Vec<u8>),
}

/// The outcome of parsing what has arrived so far.
enum Parsed {
    Complete { head_len: usize, decision: Decision },
    Incomplete,
}

impl Shard {
    pub(super) fn on_handshake_bytes(&mut self, slot: u32, generation: u32, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(slot, generation) else {
            return;
        };
        match conn.head.take() {
            None => self.handshake_from(slot, generation, data),
            Some(mut head) => {
                head.extend_from_slice(data);
                self.handshake_from(slot, generation, &mut head);
            }
        }
    }

    /// Parses `buf`: the receive buffer, or the head gathered so far.
    fn handshake_from(&mut self, slot: u32, generation: u32, buf: &mut [u8]) {
        let max = self.settings.max_handshake_bytes;
        match self.parse_head(slot, generation, buf) {
            Parsed::Complete { head_len, .. } if head_len > max => {
                self.head_too_large(slot, generation)
            }
            Parsed::Complete { head_len, decision } => {
                self.apply(slot, generation, decision);
                if head_len < buf.len() {
                    // Frames the client sent right behind its request.
                    let rest = &mut buf[head_len..];
                    if self
                        .conns
                        .get_mut(slot, generation)
                        .is_some_and(|c| c.phase == Phase::Open)
                    {
                        self.on_frame_bytes(slot, generation, rest);
                    }
                }
            }
            Parsed::Incomplete if buf.len() >= max => self.head_too_large(slot, generation),
            Parsed::Incomplete => {
                if let Some(conn) = self.conns.get_mut(slot, generation) {
                    let mut head = ThinBuf::with_capacity(buf.len().max(512));
                    head.extend_from_slice(buf);
                    conn.head = Some(head);
                }
            }
        }
    }

    fn head_too_large(&mut self, slot: u32, generation: u32) {
        let message = format!(
            "request head over {} bytes",
            self.settings.max_handshake_bytes
        );
        self.respond_error(
            slot,
            generation,
            431,
            "Request Header Fields Too Large",
            "head_too_large",
            &message,
        );
    }

    fn parse_head(&mut self, slot: u32, generation: u32, buf: &[u8]) -> Parsed {
        match http::parse_request(buf) {
            Ok(None) => Parsed::Incomplete,
            Ok(Some(request)) => {
                let decision = self.decide(&request, slot, generation);
                Parsed::Complete {
                    head_len: request.head_len,
                    decision,
                }
            }
            Err(err) => Parsed::Complete {
                head_len: buf.len(),
                decision: Decision::Respond(error_answer(
                    400,
                    "Bad Request",
                    "bad_request",
                    &err.to_string(),
                    &[],
                )),
            },
        }
    }

    fn decide(&mut self, request: &Request<'_>, slot: u32, generation: u32) -> Decision {
        let endpoint = match request.path {
            "/health" => return self.health(request),
            "/echo" => Endpoint::Echo,
            "/v1/ws" => {
                let encoding = if request.offers_protocol(Encoding::BINARY_SUBPROTOCOL) {
                    Encoding::Binary
                } else {
                    Encoding::Json
                };
                Endpoint::Chat(encoding)
            }
            _ => {
                let message = format!("no route for {}", request.path);
                return Decision::Respond(error_answer(
                    404,
                    "Not Found",
                    "not_found",
                    &message,
                    &[],
                ));
            }
        };
        if let Some(refusal) = check_upgrade(request) {
            return Decision::Respond(refusal);
        }
        let user = match endpoint {
            Endpoint::Chat(_) => {
                let conn = self.conn_id(slot, generation).0;
                match self.auth.authenticate(request.token(), conn) {
                    Ok(identity) => Some(identity.user),
                    Err(err) => {
                        let answer = error_answer(
                            401,
                            "Unauthorized",
                            "unauthorized",
                            &err.to_string(),
                            &[],
                        );
                        return Decision::Respond(answer);
                    }
                }
            }
            _ => None,
        };
        let key = request.websocket_key.unwrap_or_default();
        let protocol = match endpoint {
            Endpoint::Chat(encoding) if request.offers_protocol(encoding.subprotocol()) => {
                Some(encoding.subprotocol())
            }
            _ => None,
        };
        Decision::Upgrade {
            endpoint,
            accept: http::accept_key_bytes(key),
            protocol,
            user,
        }
    }

    fn health(&self, request: &Request<'_>) -> Decision {
        if request.method != "GET" {
            return Decision::Respond(error_answer(
                405,
                "Method Not Allowed",
                "method_not_allowed",
                "use GET",
                &[("Allow", "GET")],
            ));
        }
        let draining = self.mesh.shutting_down();
        let body = health_body(draining, self.mesh.shards(), self.mesh.total_connections());
        let (status, reason) = if draining {
            (503, "Service Unavailable")
        } else {
            (200, "OK")
        };
        let mut answer = Vec::with_capacity(160);
        http::write_response(&mut answer, status, reason, "application/json", &body, &[]);
        Decision::Respond(answer)
    }

    fn apply(&mut self, slot: u32, generation: u32, decision: Decision) {
        match decision {
            Decision::Respond(answer) => {
                self.respond(slot, generation, |out| out.extend_from_slice(&answer))
            }
            Decision::Upgrade {
                endpoint,
                accept,
                protocol,
                user,
            } => {
                let Some(conn) = self.conns.get_mut(slot, generation) else {
                    return;
                };
                conn.phase = Phase::Open;
                conn.endpoint = endpoint;
                conn.head = None;
                conn.user = user;
                if let Some(queued) = self.output(slot, generation) {
                    http::write_switching_protocols(queued, &accept, protocol);
                }
                if let Endpoint::Chat(_) = endpoint {
                    self.welcome(slot, generation);
                }
            }
        }
    }

    fn welcome(&mut self, slot: u32, generation: u32) {
        let conn = self.conn_id(slot, generation).0;
        let Some(user) = self
            .conns
            .get_mut(slot, generation)
            .and_then(|c| c.user.take())
        else {
            return;
        };
        let shard = self.index as u16;
        self.enqueue_chat(
            slot,
            generation,
            &ServerFrame::Welcome {
                conn,
                shard,
                user: &user,
            },
        );
        if let Some(c) = self.conns.get_mut(slot, generation) {
            c.user = Some(user);
        }
    }
}

/// Refuses an upgrade that breaks RFC 6455 §4.2.1, or `None` when it is acceptable.
fn check_upgrade(request: &Request<'_>) -> Option<Vec<u8>> {
    if request.method != "GET" {
        return Some(error_answer(
            405,
            "Method Not Allowed",
            "method_not_allowed",
            "use GET",
            &[("Allow", "GET")],
        ));
    }
    if !request.wants_websocket || request.minor_version < 1 {
        let headers = [("Upgrade", "websocket"), ("Connection", "Upgrade")];
        return Some(error_answer(
            426,
            "Upgrade Required",
            "upgrade_required",
            "this endpoint speaks WebSocket",
            &headers,
        ));
    }
    if request.websocket_version != Some("13") {
        let headers = [("Sec-WebSocket-Version", "13")];
        return Some(error_answer(
            426,
            "Upgrade Required",
            "unsupported_version",
            "WebSocket version 13 only",
            &headers,
        ));
    }
    if !request.websocket_key.is_some_and(http::is_valid_key) {
        return Some(error_answer(
            400,
            "Bad Request",
            "bad_websocket_key",
            "missing or invalid Sec-WebSocket-Key",
            &[],
        ));
    }
    None
}

fn error_answer(
    status: u16,
    reason: &str,
    code: &str,
    message: &str,
    headers: &[(&str, &str)],
) -> Vec<u8> {
    let mut answer = Vec::with_capacity(256);
    http::write_response(
        &mut answer,
        status,
        reason,
        "application/json",
        &http::error_body(code, message),
        headers,
    );
    answer
}

fn health_body(draining: bool, shards: usize, connections: usize) -> String {
    let status = if draining { "draining" } else { "ok" };
    format!("{{\"status\":\"{status}\",\"shards\":{shards},\"connections\":{connections}}}")
}
