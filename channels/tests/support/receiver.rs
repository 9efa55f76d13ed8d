//! An HTTP receiver for webhooks and device callbacks (tiny_http on loopback): records
//! every request and answers with the status a policy picks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The path and query.
    pub url: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Picks the status for a request, given how many earlier requests had the same
/// key (the `Switchboard-Event-Id` or `Idempotency-Key` header, or the body).
pub type Policy = Box<dyn Fn(&Received, u32) -> u16 + Send + Sync>;

struct State {
    requests: Vec<Received>,
    seen: HashMap<String, u32>,
    policy: Policy,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Answers every request with 200.
    pub fn ok() -> Self {
        Self::with_policy(Box::new(|_, _| 200))
    }

    /// Answers 500 to every event of conversation `conv` (the JSON body's `conv`),
    /// 200 to the rest.
    pub fn refusing_conv(conv: u64) -> Self {
        Self::with_policy(Box::new(move |request, _| {
            if request.json()["conv"] == conv {
                500
            } else {
                200
            }
        }))
    }

    /// Answers with whatever `policy` says.
    pub fn with_policy(policy: Policy) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let addr = server.server_addr().to_ip().unwrap();
        let state = Arc::new(Mutex::new(State {
            requests: Vec::new(),
            seen: HashMap::new(),
            policy,
        }));
        let thread = {
            let (server, state) = (Arc::clone(&server), Arc::clone(&state));
            std::thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let mut body = Vec::new();
                    let _ = request.as_reader().read_to_end(&mut body);
                    let headers: Vec<(String, String)> = request
                        .headers()
                        .iter()
                        .map(|h| {
                            (
                                h.field.as_str().as_str().to_ascii_lowercase(),
                                h.value.as_str().to_owned(),
                            )
                        })
                        .collect();
                    let mut received = Received {
                        url: request.url().to_owned(),
                        headers,
                        body,
                        status: 0,
                    };
                    let status = {
                        let mut state = state.lock().unwrap();
                        let key = received
                            .header("switchboard-event-id")
                            .or(received.header("idempotency-key"))
                            .map(str::to_owned)
                            .unwrap_or_else(|| {
                                String::from_utf8_lossy(&received.body).into_owned()
                            });
                        let before = *state.seen.get(&key).unwrap_or(&0);
                        state.seen.insert(key, before + 1);
                        let status = (state.policy)(&received, before);
                        received.status = status;
                        state.requests.push(received);
                        status
                    };
                    let _ = request
                        .respond(tiny_http::Response::from_string("{}").with_status_code(status));
                }
            })
        };
        Self {
            addr,
            state,
            server,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:port/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Received> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The requests that were answered with a 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// Replaces the policy.
    pub fn set_policy(&self, policy: Policy) {
        self.state.lock().unwrap().policy = policy;
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
