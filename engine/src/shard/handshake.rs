//! The first bytes of a connection: the HTTP request head, answered with a WebSocket
//! upgrade (`/echo`, `/v1/ws`), a health report (`/health`), or an HTTP error.
//!
//! A head that arrives in one piece is parsed straight from the receive buffer; only a
//! head cut across reads is copied, up to `--max-handshake-bytes`.

use switchboard_driver::{Driver as _, ThinBuf};
use switchboard_protocol::chat::{Encoding, Role, ServerFrame};
use switchboard_protocol::http::{self, Request};

use super::auth_wait::Gate;
use super::conn::{ChatSession, Endpoint, Phase};
use super::Shard;
use crate::auth::Identity;
use switchboard_service::commands::RouterCmd;
use switchboard_service::ids::Peer;

/// What to do with a complete request head.
enum Decision {
    /// Switch to WebSocket.
    Upgrade {
        endpoint: Endpoint,
        accept: [u8; http::ACCEPT_LEN],
        protocol: Option<&'static str>,
        identity: Option<Identity>,
    },
    /// Answer and close.
    Respond(Vec<u8>),
    /// Answered already, or parked until the connect webhook answers.
    Handled,
}

/// The outcome of parsing what has arrived so far.
enum Parsed {
    Complete {
        head_len: usize,
        decision: Decision,
    },
    /// A complete head under `/v1/sessions` (see `http_session.rs`).
    Session,
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

    /// Parses `buf`: the receive buffer, the head gathered so far, or a request parked
    /// for the connect webhook and run again (`auth_wait.rs`).
    pub(super) fn handshake_from(&mut self, slot: u32, generation: u32, buf: &mut [u8]) {
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
            Parsed::Session => self.session_head(slot, generation, buf),
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
            Ok(Some(request)) if switchboard_protocol::session::is_session_path(request.path) => {
                Parsed::Session
            }
            Ok(Some(request)) => {
                let decision = self.decide(&request, buf, slot, generation);
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

    fn decide(
        &mut self,
        request: &Request<'_>,
        buf: &[u8],
        slot: u32,
        generation: u32,
    ) -> Decision {
        let endpoint = match request.path {
            "/health" => return self.health(request),
            "/echo" => Endpoint::Echo,
            "/v1/ws" => Endpoint::Chat(ChatSession {
                encoding: Encoding::Json,
                role: Role::Visitor,
                vip: false,
            }),
            path if crate::web::is_web_path(path) => return web_answer(request),
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
        let (endpoint, identity) = match endpoint {
            Endpoint::Chat(mut session) => {
                session.encoding = Encoding::negotiate_names(request.offered_protocols()).0;
                let conn = self.conn_id(slot, generation).0;
                let verdict = match self.auth_gate(request, buf, slot, generation) {
                    Gate::Local => self.auth.authenticate(request.token().as_deref(), conn),
                    Gate::Known(identity) => Ok(identity),
                    Gate::Answered | Gate::Parked => return Decision::Handled,
                };
                match verdict {
                    Ok(identity) => {
                        session.role = if identity.is_agent() {
                            Role::Agent
                        } else {
                            Role::Visitor
                        };
                        session.vip = identity.tier.as_deref() == Some(&*self.service.vip_tier);
                        (Endpoint::Chat(session), Some(identity))
                    }
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
            other => (other, None),
        };
        let key = request.websocket_key.unwrap_or_default();
        let protocol = match endpoint {
            Endpoint::Chat(session) if request.offers_protocol(session.encoding.subprotocol()) => {
                Some(session.encoding.subprotocol())
            }
            _ => None,
        };
        Decision::Upgrade {
            endpoint,
            accept: http::accept_key_bytes(key),
            protocol,
            identity,
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
        let draining = self.shared.shutting_down();
        let store = self.shared.store();
        let body = health_body(
            draining,
            self.shared.shards(),
            self.shared.total_connections(),
            self.driver.name(),
            (
                crate::durable::health_json(store),
                store.is_some_and(|s| s.health() != switchboard_store::Health::Ok),
            ),
        );
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
            Decision::Handled => {}
            Decision::Upgrade {
                endpoint,
                accept,
                protocol,
                identity,
            } => {
                let Some(conn) = self.conns.get_mut(slot, generation) else {
                    return;
                };
                conn.phase = Phase::Open;
                conn.endpoint = endpoint;
                conn.head = None;
                conn.deadline_ms = 0;
                if let Some(queued) = self.output(slot, generation) {
                    http::write_switching_protocols(queued, &accept, protocol);
                }
                if let (Endpoint::Chat(session), Some(identity)) = (endpoint, identity) {
                    self.open_chat(slot, generation, session, identity);
                }
            }
        }
    }

    /// Greets a new `/v1/ws` connection and, for an agent, tells the router.
    pub(super) fn open_chat(
        &mut self,
        slot: u32,
        generation: u32,
        session: ChatSession,
        identity: Identity,
    ) {
        let conn = self.conn_id(slot, generation);
        let frame = ServerFrame::Welcome {
            conn: conn.0,
            shard: self.index as u16,
            user: &identity.user,
            role: session.role,
        };
        self.enqueue_chat(slot, generation, &frame);
        if self.level > 0 {
            // A client arriving during a spike learns the level at once.
            self.tell_level(slot, generation);
        }
        if session.role == Role::Agent {
            let peer = Peer {
                conn,
                encoding: session.encoding,
            };
            self.cluster_agent_opened(peer, &identity.user, &identity.groups);
            let cmd = RouterCmd::AgentConnected {
                user: identity.user.clone(),
                groups: identity.groups,
                peer,
            };
            self.send_router(cmd);
        }
        self.chat_connection_opened(conn, &identity.user);
        if let Some(c) = self.conns.get_mut(slot, generation) {
            c.user = Some(identity.user);
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

/// `/health`: `status` is `degraded` while the store cannot write (lines are refused
/// with `unavailable`; reads, resume and typing go on), and `store` says why.
fn health_body(
    draining: bool,
    shards: usize,
    connections: usize,
    driver: &str,
    (store, store_failing): (String, bool),
) -> String {
    let status = match (draining, store_failing) {
        (true, _) => "draining",
        (false, true) => "degraded",
        (false, false) => "ok",
    };
    format!(
        "{{\"status\":\"{status}\",\"shards\":{shards},\"connections\":{connections},\"io_driver\":\"{driver}\",\"store\":{store}}}"
    )
}

/// A GET of an embedded web page (`crate::web`): the file with its security and cache
/// headers, 304 when the client has it, a redirect for a folder named without its
/// slash, 404 (JSON) for anything else.
fn web_answer(request: &Request<'_>) -> Decision {
    if request.method != "GET" {
        return Decision::Respond(error_answer(
            405,
            "Method Not Allowed",
            "method_not_allowed",
            "use GET",
            &[("Allow", "GET")],
        ));
    }
    let mut answer = Vec::new();
    match crate::web::lookup(request.path) {
        Some(crate::web::Found::Redirect(to)) => {
            http::write_response(
                &mut answer,
                301,
                "Moved Permanently",
                "text/plain",
                "",
                &[("Location", to)],
            );
        }
        Some(crate::web::Found::File(asset)) => {
            let etag = format!("\"{}\"", asset.sha256);
            let mut headers = vec![
                ("Cache-Control", "no-cache"),
                ("ETag", etag.as_str()),
                ("Content-Security-Policy", crate::web::CSP),
                ("X-Content-Type-Options", "nosniff"),
            ];
            if asset.shared {
                headers.push(("Access-Control-Allow-Origin", "*"));
            }
            let fresh = request
                .if_none_match
                .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag));
            let (status, reason, body): (u16, &str, &[u8]) = if fresh {
                (304, "Not Modified", b"")
            } else {
                (200, "OK", asset.bytes)
            };
            http::write_response_bytes(
                &mut answer,
                status,
                reason,
                asset.content_type,
                body,
                &headers,
            );
        }
        None => {
            let message = format!("no page at {}", request.path);
            return Decision::Respond(error_answer(404, "Not Found", "not_found", &message, &[]));
        }
    }
    Decision::Respond(answer)
}
