//! The route table: every method and path the server answers, in OpenAPI path-template
//! form (`/v1/conversations/{id}`), so a test can compare it with `openapi.yaml`.

/// What a route does; the server dispatches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `GET /livez`
    Livez,
    /// `GET /readyz`
    Readyz,
    /// `GET /metrics`
    Metrics,
    /// `GET /v1/stats`
    Stats,
    /// `GET /v1/conversations`
    ListConversations,
    /// `GET /v1/conversations/{id}`
    GetConversation,
    /// `POST /v1/conversations/{id}/assign`
    Assign,
    /// `POST /v1/conversations/{id}/transfer`
    Transfer,
    /// `POST /v1/conversations/{id}/end`
    End,
    /// `POST /v1/conversations/{id}/messages`
    PostMessage,
    /// `GET /v1/conversations/{id}/items`
    ListItems,
    /// `POST /v1/users/{user}/events`
    PushEvent,
    /// `GET /v1/agents`
    ListAgents,
    /// `GET /v1/agents/{user}`
    GetAgent,
    /// `PATCH /v1/agents/{user}`
    UpdateAgent,
    /// `DELETE /v1/connections/{conn}`
    KickConnection,
    /// `DELETE /v1/users/{user}/connections`
    KickUser,
    /// `POST /v1/drain`
    Drain,
    /// `GET /v1/drain`
    DrainStatus,
    /// `GET /v1/degradation`
    GetDegradation,
    /// `PUT /v1/degradation`
    SetDegradation,
    /// `GET /v1/nodes`
    ListNodes,
    /// `GET /v1/events`
    Events,
}

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path template; `{name}` matches one non-empty segment.
    pub path: &'static str,
    /// Whether the bearer token is required (when the server has one).
    pub auth: bool,
    /// What it does.
    pub op: Op,
}

const fn route(method: &'static str, path: &'static str, auth: bool, op: Op) -> Route {
    Route {
        method,
        path,
        auth,
        op,
    }
}

/// Every route of the server. Probes (`/livez`, `/readyz`) are open so that load
/// balancers and kubelets need no secret; everything else, `/metrics` included,
/// needs the token when one is set.
pub const ROUTES: &[Route] = &[
    route("GET", "/livez", false, Op::Livez),
    route("GET", "/readyz", false, Op::Readyz),
    route("GET", "/metrics", true, Op::Metrics),
    route("GET", "/v1/stats", true, Op::Stats),
    route("GET", "/v1/conversations", true, Op::ListConversations),
    route("GET", "/v1/conversations/{id}", true, Op::GetConversation),
    route("POST", "/v1/conversations/{id}/assign", true, Op::Assign),
    route(
        "POST",
        "/v1/conversations/{id}/transfer",
        true,
        Op::Transfer,
    ),
    route("POST", "/v1/conversations/{id}/end", true, Op::End),
    route(
        "POST",
        "/v1/conversations/{id}/messages",
        true,
        Op::PostMessage,
    ),
    route("GET", "/v1/conversations/{id}/items", true, Op::ListItems),
    route("POST", "/v1/users/{user}/events", true, Op::PushEvent),
    route("GET", "/v1/agents", true, Op::ListAgents),
    route("GET", "/v1/agents/{user}", true, Op::GetAgent),
    route("PATCH", "/v1/agents/{user}", true, Op::UpdateAgent),
    route("DELETE", "/v1/connections/{conn}", true, Op::KickConnection),
    route("DELETE", "/v1/users/{user}/connections", true, Op::KickUser),
    route("POST", "/v1/drain", true, Op::Drain),
    route("GET", "/v1/drain", true, Op::DrainStatus),
    route("GET", "/v1/degradation", true, Op::GetDegradation),
    route("PUT", "/v1/degradation", true, Op::SetDegradation),
    route("GET", "/v1/nodes", true, Op::ListNodes),
    route("GET", "/v1/events", true, Op::Events),
];

/// The result of matching a request against [`ROUTES`].
#[derive(Debug, PartialEq, Eq)]
pub enum Match<'a> {
    /// A route matched; the path parameters in template order, still percent-encoded.
    Found(&'static Route, Vec<&'a str>),
    /// The path matches a template but not with this method; the allowed methods.
    WrongMethod(Vec<&'static str>),
    /// No template matches the path.
    NotFound,
}

/// Matches `method` and `path` (without the query) against [`ROUTES`].
pub fn find<'a>(method: &str, path: &'a str) -> Match<'a> {
    let mut allowed = Vec::new();
    for route in ROUTES {
        if let Some(params) = match_path(route.path, path) {
            if route.method == method {
                return Match::Found(route, params);
            }
            if !allowed.contains(&route.method) {
                allowed.push(route.method);
            }
        }
    }
    if allowed.is_empty() {
        Match::NotFound
    } else {
        Match::WrongMethod(allowed)
    }
}

fn match_path<'a>(template: &str, path: &'a str) -> Option<Vec<&'a str>> {
    let mut params = Vec::new();
    let mut want = template.split('/');
    let mut have = path.split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(h)) if w.starts_with('{') => {
                if h.is_empty() {
                    return None;
                }
                params.push(h);
            }
            (Some(w), Some(h)) if w == h => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_templates_and_methods() {
        match find("GET", "/v1/conversations/42") {
            Match::Found(r, p) => {
                assert_eq!(r.op, Op::GetConversation);
                assert_eq!(p, vec!["42"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            find("DELETE", "/v1/degradation"),
            Match::WrongMethod(vec!["GET", "PUT"])
        );
        assert_eq!(find("GET", "/v1/conversations/"), Match::NotFound);
        assert_eq!(find("GET", "/v1/conversations/1/x"), Match::NotFound);
        assert_eq!(find("GET", "/nope"), Match::NotFound);
        assert_eq!(find("GET", "/v1/stats/"), Match::NotFound);
    }

    #[test]
    fn routes_are_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(a.method != b.method || a.path != b.path, "{a:?}");
            }
        }
    }
}
