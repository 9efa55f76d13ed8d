//! From a matched route to an [`Engine`] call: parameters and bodies are decoded and
//! validated here, so the engine only ever sees well-formed input.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;

use crate::http::{percent_decode, Request, Response};
use crate::limits::*;
use crate::model::*;
use crate::routes::Op;
use crate::{ApiError, Engine};

/// Answers one request for the matched route `op` with its raw path `params`.
pub(crate) fn handle(engine: &dyn Engine, op: Op, params: &[&str], req: &Request) -> Response {
    match dispatch(engine, op, params, req) {
        Ok(response) => response,
        Err(error) => Response::error(&error),
    }
}

fn ok<T: serde::Serialize>(value: T) -> Result<Response, ApiError> {
    Ok(Response::json(200, &value))
}

fn dispatch(
    engine: &dyn Engine,
    op: Op,
    params: &[&str],
    req: &Request,
) -> Result<Response, ApiError> {
    let query = Query::parse(req.query.as_deref())?;
    let allowed: &[&str] = match op {
        Op::ListConversations => &[
            "state",
            "agent",
            "min_age_ms",
            "limit",
            "visitor",
            "since_ms",
            "until_ms",
            "cursor",
        ],
        Op::Events => &["after", "limit", "wait_ms"],
        Op::GetConversation => &["recent"],
        Op::ListItems => &["after_seq", "limit"],
        Op::KickConnection | Op::KickUser => &["reason"],
        _ => &[],
    };
    query.only(allowed)?;
    match op {
        Op::Livez => {
            no_body(req)?;
            ok(Probe {
                status: "live".into(),
            })
        }
        Op::Readyz => {
            no_body(req)?;
            if engine.ready() {
                ok(Probe {
                    status: "ready".into(),
                })
            } else {
                Err(ApiError::unavailable("not ready: the node is draining"))
            }
        }
        Op::Metrics => {
            no_body(req)?;
            let text = engine.metrics()?;
            Ok(Response {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                headers: Vec::new(),
                body: text.into_bytes(),
            })
        }
        Op::Stats => {
            no_body(req)?;
            ok(engine.node_stats()?)
        }
        Op::ListConversations if is_history(&query) => {
            no_body(req)?;
            let history = history_query(&query)?;
            let mut list = engine.conversation_history(&history)?;
            list.conversations.truncate(history.limit);
            ok(list)
        }
        Op::Events => {
            no_body(req)?;
            ok(engine.events(&event_query(&query)?)?)
        }
        Op::ListConversations => {
            no_body(req)?;
            let filter = ConversationFilter {
                state: state_param(&query)?,
                agent: user_query_param(&query, "agent")?,
                min_age_ms: time_param(&query, "min_age_ms")?,
                limit: list_limit(&query)?,
            };
            let mut conversations = engine.list_conversations(&filter)?;
            conversations.truncate(filter.limit);
            ok(ConversationList {
                conversations,
                next_cursor: None,
            })
        }
        Op::GetConversation => {
            no_body(req)?;
            let id = id_param("conversation id", params[0])?;
            let recent = query
                .get("recent")
                .map(|v| number("recent", v, 0, MAX_RECENT as u64))
                .transpose()?
                .map_or(DEFAULT_RECENT, |n| n as usize);
            ok(engine.conversation(id, recent)?)
        }
        Op::ListItems => {
            no_body(req)?;
            let id = id_param("conversation id", params[0])?;
            let after_seq = query
                .get("after_seq")
                .map(|v| number("after_seq", v, 0, u64::MAX))
                .transpose()?
                .unwrap_or(0);
            let limit = query
                .get("limit")
                .map(|v| number("limit", v, 1, crate::limits::MAX_ITEMS_LIMIT as u64))
                .transpose()?
                .map_or(crate::limits::DEFAULT_ITEMS_LIMIT, |n| n as usize);
            ok(engine.conversation_items(id, after_seq, limit)?)
        }
        Op::Assign => {
            let id = id_param("conversation id", params[0])?;
            let body: AssignRequest = json_body(req)?;
            let agent = user_id("agent", &body.agent)?;
            ok(engine.assign(id, &agent)?)
        }
        Op::Transfer => {
            let id = id_param("conversation id", params[0])?;
            let body: TransferRequest = json_body(req)?;
            let to = user_id("to", &body.to)?;
            ok(engine.transfer(id, &to, body.force)?)
        }
        Op::End => {
            let id = id_param("conversation id", params[0])?;
            empty_object_body(req)?;
            ok(engine.end(id)?)
        }
        Op::PostMessage => {
            let id = id_param("conversation id", params[0])?;
            let mut msg: PostMessage = json_body(req)?;
            validate_message(&mut msg)?;
            ok(engine.post_message(id, &msg)?)
        }
        Op::PushEvent => {
            let user = user_param(params[0])?;
            let event: PushEvent = json_body(req)?;
            name("name", &event.name)?;
            if event.name == "pressure" {
                return Err(ApiError::invalid(
                    "name: pressure is the engine's own event (its degradation level)",
                ));
            }
            let size = event.data.get().len();
            if size > MAX_EVENT_DATA {
                return Err(ApiError::invalid(format!(
                    "data must be at most {MAX_EVENT_DATA} bytes as JSON"
                )));
            }
            ok(engine.push_event(&user, &event)?)
        }
        Op::ListAgents => {
            no_body(req)?;
            ok(AgentList {
                agents: engine.agents()?,
            })
        }
        Op::GetAgent => {
            no_body(req)?;
            let user = user_param(params[0])?;
            let agent = engine
                .agents()?
                .into_iter()
                .find(|a| a.user == user)
                .ok_or_else(|| ApiError::not_found(format!("agent {user}")))?;
            ok(agent)
        }
        Op::UpdateAgent => {
            let user = user_param(params[0])?;
            let patch: AgentPatch = json_body(req)?;
            validate_patch(&patch)?;
            ok(engine.update_agent(&user, &patch)?)
        }
        Op::KickConnection => {
            let conn = id_param("connection id", params[0])?;
            let reason = kick_reason(&query, req)?;
            ok(engine.kick_connection(conn, &reason)?)
        }
        Op::KickUser => {
            let user = user_param(params[0])?;
            let reason = kick_reason(&query, req)?;
            ok(engine.kick_user(&user, &reason)?)
        }
        Op::Drain => {
            empty_object_body(req)?;
            ok(engine.drain()?)
        }
        Op::DrainStatus => {
            no_body(req)?;
            ok(engine.drain_status()?)
        }
        Op::GetDegradation => {
            no_body(req)?;
            ok(engine.degradation()?)
        }
        Op::SetDegradation => {
            let value: serde_json::Value = json_body(req)?;
            if !value.as_object().is_some_and(|o| o.contains_key("level")) {
                return Err(ApiError::invalid(
                    "body must be {\"level\": 0..3} or {\"level\": null}",
                ));
            }
            let request: DegradationRequest = serde_json::from_value(value)
                .map_err(|e| ApiError::invalid(format!("bad body: {e}")))?;
            if let Some(level) = request.level {
                if level > MAX_DEGRADATION_LEVEL {
                    return Err(ApiError::invalid(format!(
                        "level must be 0..={MAX_DEGRADATION_LEVEL} or null"
                    )));
                }
            }
            ok(engine.set_degradation(request.level)?)
        }
        Op::ListNodes => {
            no_body(req)?;
            ok(engine.nodes()?)
        }
    }
}

/// A history listing (from the store, newest first) is asked for by any parameter
/// the live listing does not know.
fn is_history(query: &Query) -> bool {
    ["visitor", "since_ms", "until_ms", "cursor"]
        .iter()
        .any(|key| query.get(key).is_some())
}

/// `state=`, when given: a conversation state.
fn state_param(query: &Query) -> Result<Option<ConversationState>, ApiError> {
    query
        .get("state")
        .map(|s| {
            ConversationState::parse(s).ok_or_else(|| {
                ApiError::invalid("state must be waiting, serving, transferring or ended")
            })
        })
        .transpose()
}

/// `key=`, when given: a user id.
fn user_query_param(query: &Query, key: &str) -> Result<Option<String>, ApiError> {
    query.get(key).map(|v| user_id(key, v)).transpose()
}

/// `key=`, when given: milliseconds (any whole number).
fn time_param(query: &Query, key: &str) -> Result<Option<u64>, ApiError> {
    query
        .get(key)
        .map(|v| number(key, v, 0, u64::MAX))
        .transpose()
}

/// `limit=` of a conversation listing, within its bounds.
fn list_limit(query: &Query) -> Result<usize, ApiError> {
    Ok(query
        .get("limit")
        .map(|v| number("limit", v, 1, MAX_LIST_LIMIT as u64))
        .transpose()?
        .map_or(DEFAULT_LIST_LIMIT, |n| n as usize))
}

fn history_query(query: &Query) -> Result<HistoryQuery, ApiError> {
    let history = HistoryQuery {
        visitor: user_query_param(query, "visitor")?,
        agent: user_query_param(query, "agent")?,
        state: state_param(query)?,
        since_ms: time_param(query, "since_ms")?,
        until_ms: time_param(query, "until_ms")?,
        min_age_ms: time_param(query, "min_age_ms")?,
        cursor: query
            .get("cursor")
            .map(|c| {
                HistoryCursor::parse(c).ok_or_else(|| {
                    ApiError::invalid("cursor must be a next_cursor of an earlier page")
                })
            })
            .transpose()?,
        limit: list_limit(query)?,
    };
    if let (Some(since), Some(until)) = (history.since_ms, history.until_ms) {
        if since > until {
            return Err(ApiError::invalid("since_ms must not be after until_ms"));
        }
    }
    Ok(history)
}

fn event_query(query: &Query) -> Result<EventQuery, ApiError> {
    Ok(EventQuery {
        after: query
            .get("after")
            .map(|v| {
                parse_event_cursor(v).ok_or_else(|| {
                    ApiError::invalid("after must be a cursor of an earlier event or page")
                })
            })
            .transpose()?
            .unwrap_or(0),
        limit: query
            .get("limit")
            .map(|v| number("limit", v, 1, u32::MAX as u64))
            .transpose()?
            .map_or(DEFAULT_EVENTS_LIMIT, |n| n as usize),
        wait_ms: query
            .get("wait_ms")
            .map(|v| number("wait_ms", v, 0, u32::MAX as u64))
            .transpose()?
            .unwrap_or(0),
    })
}

/// An event cursor as the engine writes it (decimal digits).
fn parse_event_cursor(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The decoded query string.
#[derive(Debug, Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let k = percent_decode(k, true)
                .ok_or_else(|| ApiError::invalid("bad percent-encoding in the query"))?;
            let v = percent_decode(v, true)
                .ok_or_else(|| ApiError::invalid("bad percent-encoding in the query"))?;
            if pairs.iter().any(|(old, _)| *old == k) {
                return Err(ApiError::invalid(format!(
                    "query parameter {k} given twice"
                )));
            }
            pairs.push((k, v));
        }
        Ok(Query(pairs))
    }

    fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            Some((k, _)) => Err(ApiError::invalid(format!(
                "unknown query parameter {}",
                printable(k)
            ))),
            None => Ok(()),
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Shows user input in an error message without control characters or great length.
fn printable(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    out
}

fn number(what: &str, text: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    let bad = || ApiError::invalid(format!("{what} must be an integer in {min}..={max}"));
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = text.parse().map_err(|_| bad())?;
    if n < min || n > max {
        return Err(bad());
    }
    Ok(n)
}

fn id_param(what: &str, raw: &str) -> Result<u64, ApiError> {
    number(what, raw, 0, u64::MAX)
}

fn user_param(raw: &str) -> Result<String, ApiError> {
    let user = percent_decode(raw, false)
        .ok_or_else(|| ApiError::invalid("bad percent-encoding in the user id"))?;
    user_id("user id", &user)
}

/// A user id: 1..=[`MAX_USER`] bytes of visible ASCII (no space, no control).
pub(crate) fn user_id(what: &str, text: &str) -> Result<String, ApiError> {
    visible_ascii(what, text, MAX_USER)
}

/// A name (event, bot, group): 1..=[`MAX_NAME`] bytes of visible ASCII.
fn name(what: &str, text: &str) -> Result<String, ApiError> {
    visible_ascii(what, text, MAX_NAME)
}

fn visible_ascii(what: &str, text: &str, max: usize) -> Result<String, ApiError> {
    if text.is_empty() || text.len() > max || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(format!(
            "{what} must be 1..={max} visible ASCII characters"
        )));
    }
    Ok(text.to_owned())
}

fn no_body(req: &Request) -> Result<(), ApiError> {
    if req.body.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("this route takes no body"))
    }
}

fn check_json_type(req: &Request) -> Result<(), ApiError> {
    match &req.content_type {
        None => Ok(()),
        Some(ct) => {
            let essence = ct.split(';').next().unwrap_or("").trim();
            if essence.eq_ignore_ascii_case("application/json") {
                Ok(())
            } else {
                Err(ApiError::UnsupportedMediaType {
                    message: format!(
                        "Content-Type must be application/json, not {}",
                        printable(ct)
                    ),
                })
            }
        }
    }
}

fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    if req.body.is_empty() {
        return Err(ApiError::invalid("a JSON body is required"));
    }
    check_json_type(req)?;
    // serde's derived decoders also take an array for a struct: refuse it up front.
    match switchboard_protocol::chat::json_value_kind(&req.body) {
        "an object" => {}
        other => {
            return Err(ApiError::invalid(format!(
                "bad body: a JSON object is required, got {other}"
            )))
        }
    }
    serde_json::from_slice(&req.body).map_err(|e| ApiError::invalid(format!("bad body: {e}")))
}

/// For actions without parameters: no body, or an empty JSON object.
fn empty_object_body(req: &Request) -> Result<(), ApiError> {
    if req.body.is_empty() {
        return Ok(());
    }
    let value: serde_json::Value = json_body(req)?;
    match value.as_object() {
        Some(o) if o.is_empty() => Ok(()),
        _ => Err(ApiError::invalid("body must be empty or {}")),
    }
}

fn kick_reason(query: &Query, req: &Request) -> Result<String, ApiError> {
    let from_body = if req.body.is_empty() {
        None
    } else {
        json_body::<KickRequest>(req)?.reason
    };
    let reason = match (query.get("reason"), from_body) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "give the reason in the query or the body, not both",
            ))
        }
        (Some(q), None) => Some(q.to_owned()),
        (None, b) => b,
    };
    let reason = reason.unwrap_or_else(|| DEFAULT_KICK_REASON.to_owned());
    if reason.len() > MAX_REASON || reason.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "reason must be at most {MAX_REASON} bytes without control characters"
        )));
    }
    Ok(reason)
}

static NEXT_MSG_ID: AtomicU64 = AtomicU64::new(1);

fn validate_message(msg: &mut PostMessage) -> Result<(), ApiError> {
    if let Sender::Bot(bot) = &msg.from {
        name("bot name", bot)?;
    }
    if msg.body.is_empty() || msg.body.len() > MAX_MESSAGE_BODY {
        return Err(ApiError::invalid(format!(
            "body must be 1..={MAX_MESSAGE_BODY} bytes"
        )));
    }
    match &msg.client_msg_id {
        Some(id) => {
            visible_ascii("client_msg_id", id, MAX_CLIENT_MSG_ID)?;
        }
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let n = NEXT_MSG_ID.fetch_add(1, Ordering::Relaxed);
            msg.client_msg_id = Some(format!("api-{now:x}-{n}"));
        }
    }
    Ok(())
}

fn validate_patch(patch: &AgentPatch) -> Result<(), ApiError> {
    if patch.status.is_none()
        && patch.capacity.is_none()
        && patch.weight.is_none()
        && patch.groups.is_none()
    {
        return Err(ApiError::invalid(
            "nothing to change: give status, capacity, weight or groups",
        ));
    }
    if patch.capacity.is_some_and(|c| c > MAX_CAPACITY) {
        return Err(ApiError::invalid(format!(
            "capacity must be 0..={MAX_CAPACITY}"
        )));
    }
    if patch.weight.is_some_and(|w| w > MAX_WEIGHT) {
        return Err(ApiError::invalid(format!(
            "weight must be 0..={MAX_WEIGHT}"
        )));
    }
    if let Some(groups) = &patch.groups {
        if groups.len() > MAX_GROUPS {
            return Err(ApiError::invalid(format!("at most {MAX_GROUPS} groups")));
        }
        for (i, group) in groups.iter().enumerate() {
            name("group", group)?;
            if groups[..i].contains(group) {
                return Err(ApiError::invalid(format!("group {group} given twice")));
            }
        }
    }
    Ok(())
}
