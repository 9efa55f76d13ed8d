//! `switchboard ctl`: the operator's command line over [`crate::client`], printing
//! aligned tables (or the server's JSON with `--json`).

use std::io::Write;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use crate::client::{conversations_path, history_path, Client};
use crate::http::percent_encode;
use crate::model::*;

/// `switchboard ctl [OPTIONS] <COMMAND>`.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The control API address (host:port).
    #[arg(long, env = "SWITCHBOARD_CONTROL_ADDR", default_value = crate::DEFAULT_CONTROL_LISTEN)]
    pub addr: String,
    /// The bearer token of the control API.
    #[arg(long, env = "SWITCHBOARD_CONTROL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the bearer token (instead of --token).
    #[arg(long, conflicts_with = "token")]
    pub token_file: Option<std::path::PathBuf>,
    /// Print the server's JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Give up on a call after this many milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// The `ctl` commands.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Node and per-shard counters.
    Stats,
    /// The Prometheus metrics text.
    Metrics,
    /// List conversations.
    Conversations {
        /// Only in this state (waiting, serving, transferring, ended).
        #[arg(long)]
        state: Option<String>,
        /// Only served by (or offered to) this agent.
        #[arg(long)]
        agent: Option<String>,
        /// Only at least this old (milliseconds).
        #[arg(long)]
        min_age_ms: Option<u64>,
        /// At most this many.
        #[arg(long, default_value_t = crate::limits::DEFAULT_LIST_LIMIT)]
        limit: usize,
    },
    /// List conversations from the node's store (ended ones too), newest first.
    History {
        /// Only this visitor's.
        #[arg(long)]
        visitor: Option<String>,
        /// Only served (last) by, or offered to, this agent.
        #[arg(long)]
        agent: Option<String>,
        /// Only in this state (waiting, serving, transferring, ended).
        #[arg(long)]
        state: Option<String>,
        /// Only created at or after this time (ms since the Unix epoch).
        #[arg(long)]
        since_ms: Option<u64>,
        /// Only created before this time (ms since the Unix epoch).
        #[arg(long)]
        until_ms: Option<u64>,
        /// The next page: the `next_cursor` printed by the previous one.
        #[arg(long)]
        cursor: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = crate::limits::DEFAULT_LIST_LIMIT)]
        limit: usize,
    },
    /// Read the node's event feed (conversation items in the order stored).
    Events {
        /// After this cursor (0: from the oldest stored).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many.
        #[arg(long, default_value_t = crate::limits::DEFAULT_EVENTS_LIMIT)]
        limit: usize,
        /// Wait up to this long when nothing is new (milliseconds).
        #[arg(long, default_value_t = 0)]
        wait_ms: u64,
    },
    /// One conversation with its recent items.
    Conversation {
        /// The conversation id.
        id: u64,
        /// How many recent items to show.
        #[arg(long, default_value_t = crate::limits::DEFAULT_RECENT)]
        recent: usize,
    },
    /// Give a conversation to an agent.
    Assign {
        /// The conversation id.
        id: u64,
        /// The agent's user id.
        agent: String,
    },
    /// Offer a conversation to another agent (`--force`: move it at once).
    Transfer {
        /// The conversation id.
        id: u64,
        /// The target agent's user id.
        agent: String,
        /// Move it at once instead of offering it.
        #[arg(long)]
        force: bool,
    },
    /// End a conversation.
    End {
        /// The conversation id.
        id: u64,
    },
    /// Post a message into a conversation as the system (or a bot).
    Say {
        /// The conversation id.
        id: u64,
        /// The text.
        text: String,
        /// Post as this bot instead of the system.
        #[arg(long)]
        bot: Option<String>,
    },
    /// Send an event to every connection of a user.
    Push {
        /// The user id.
        user: String,
        /// The event name.
        name: String,
        /// The event data as JSON (default null).
        data: Option<String>,
    },
    /// List agents with their load.
    Agents,
    /// Show an agent, or change it when options are given.
    Agent {
        /// The agent's user id.
        user: String,
        /// online, away or offline.
        #[arg(long)]
        status: Option<String>,
        /// Concurrent conversations.
        #[arg(long)]
        capacity: Option<u32>,
        /// Routing weight.
        #[arg(long)]
        weight: Option<u32>,
        /// Groups, comma-separated (replaces the old ones; "" for none).
        #[arg(long)]
        groups: Option<String>,
    },
    /// Close a connection, or every connection of a user.
    Kick {
        /// The connection id.
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        conn: Option<u64>,
        /// Close every connection of this user instead.
        #[arg(long)]
        user: Option<String>,
        /// The close reason.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Start draining the node (or show progress with --status).
    Drain {
        /// Only show progress.
        #[arg(long)]
        status: bool,
    },
    /// Show the degradation level, pin it (0-3) or return it to automatic (auto).
    Degrade {
        /// 0, 1, 2, 3 or auto; nothing to show the level.
        level: Option<String>,
    },
    /// List the nodes of the cluster and the Redis connection.
    Nodes,
}

/// Runs a `ctl` command, printing to stdout.
pub fn run_ctl(args: CtlArgs) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    run_ctl_to(args, &mut out)
}

/// Runs a `ctl` command, printing to `out`.
pub fn run_ctl_to(args: CtlArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(path)) => Some(crate::read_token_file(path).map_err(anyhow::Error::msg)?),
        (None, None) => None,
    };
    let client = Client::new(args.addr.clone(), token)
        .with_timeout(std::time::Duration::from_millis(args.timeout_ms.max(1)));
    let ctl = Ctl {
        client,
        json: args.json,
    };
    ctl.run(args.command, out)
}

struct Ctl {
    client: Client,
    json: bool,
}

impl Ctl {
    /// Calls the API; prints the JSON as is with --json, else hands the typed answer
    /// to `table`.
    fn show<T: serde::de::DeserializeOwned>(
        &self,
        out: &mut dyn Write,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        table: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<()> {
        let raw = self
            .client
            .call_raw(method, path, body.as_ref())
            .with_context(|| format!("{method} {path}"))?;
        if self.json {
            out.write_all(&raw.body)?;
            if !raw.body.ends_with(b"\n") {
                writeln!(out)?;
            }
            return Ok(());
        }
        let value: T =
            serde_json::from_slice(&raw.body).context("decoding the control API's answer")?;
        write!(out, "{}", table(&value))?;
        Ok(())
    }

    fn run(&self, command: CtlCommand, out: &mut dyn Write) -> anyhow::Result<()> {
        use serde_json::json;
        match command {
            CtlCommand::Stats => self.show(out, "GET", "/v1/stats", None, stats_table),
            CtlCommand::Metrics => {
                let text = self.client.metrics().context("GET /metrics")?;
                out.write_all(text.as_bytes())?;
                Ok(())
            }
            CtlCommand::Conversations {
                state,
                agent,
                min_age_ms,
                limit,
            } => {
                let state = state
                    .map(|s| {
                        ConversationState::parse(&s).with_context(|| {
                            format!("unknown state {s}: waiting, serving, transferring or ended")
                        })
                    })
                    .transpose()?;
                let filter = ConversationFilter {
                    state,
                    agent,
                    min_age_ms,
                    limit,
                };
                self.show(
                    out,
                    "GET",
                    &conversations_path(&filter),
                    None,
                    |l: &ConversationList| conversations_table(&l.conversations),
                )
            }
            CtlCommand::History {
                visitor,
                agent,
                state,
                since_ms,
                until_ms,
                cursor,
                limit,
            } => {
                let query = HistoryQuery {
                    visitor,
                    agent,
                    state: state
                        .map(|s| {
                            ConversationState::parse(&s).with_context(|| {
                                format!(
                                    "unknown state {s}: waiting, serving, transferring or ended"
                                )
                            })
                        })
                        .transpose()?,
                    since_ms,
                    until_ms,
                    min_age_ms: None,
                    cursor: cursor
                        .map(|c| {
                            HistoryCursor::parse(&c)
                                .with_context(|| format!("{c} is not a next_cursor"))
                        })
                        .transpose()?,
                    limit,
                };
                self.show(
                    out,
                    "GET",
                    &history_path(&query),
                    None,
                    |l: &ConversationList| {
                        let mut text = conversations_table(&l.conversations);
                        if let Some(next) = &l.next_cursor {
                            text.push_str(&format!("next_cursor {next}\n"));
                        }
                        text
                    },
                )
            }
            CtlCommand::Events {
                after,
                limit,
                wait_ms,
            } => {
                let path = format!("/v1/events?after={after}&limit={limit}&wait_ms={wait_ms}");
                let wait = std::time::Duration::from_millis(wait_ms + 5_000);
                let ctl = Ctl {
                    client: self
                        .client
                        .clone()
                        .with_timeout(wait.max(self.client.timeout())),
                    json: self.json,
                };
                ctl.show(out, "GET", &path, None, events_table)
            }
            CtlCommand::Conversation { id, recent } => self.show(
                out,
                "GET",
                &format!("/v1/conversations/{id}?recent={recent}"),
                None,
                detail_table,
            ),
            CtlCommand::Assign { id, agent } => self.show(
                out,
                "POST",
                &format!("/v1/conversations/{id}/assign"),
                Some(json!({ "agent": agent })),
                |c: &ConversationSummary| conversations_table(std::slice::from_ref(c)),
            ),
            CtlCommand::Transfer { id, agent, force } => self.show(
                out,
                "POST",
                &format!("/v1/conversations/{id}/transfer"),
                Some(json!({ "to": agent, "force": force })),
                |c: &ConversationSummary| conversations_table(std::slice::from_ref(c)),
            ),
            CtlCommand::End { id } => self.show(
                out,
                "POST",
                &format!("/v1/conversations/{id}/end"),
                None,
                |c: &ConversationSummary| conversations_table(std::slice::from_ref(c)),
            ),
            CtlCommand::Say { id, text, bot } => {
                let from = match bot {
                    Some(bot) => json!({ "bot": bot }),
                    None => json!("system"),
                };
                self.show(
                    out,
                    "POST",
                    &format!("/v1/conversations/{id}/messages"),
                    Some(json!({ "from": from, "body": text })),
                    |p: &PostedMessage| {
                        format!(
                            "conversation {} seq {} ts {}{}\n",
                            p.conv,
                            p.seq,
                            p.ts,
                            if p.duplicate { " (duplicate)" } else { "" }
                        )
                    },
                )
            }
            CtlCommand::Push { user, name, data } => {
                let data: serde_json::Value = match data {
                    Some(text) => {
                        serde_json::from_str(&text).context("the event data is not JSON")?
                    }
                    None => serde_json::Value::Null,
                };
                self.show(
                    out,
                    "POST",
                    &format!("/v1/users/{}/events", percent_encode(&user)),
                    Some(json!({ "name": name, "data": data })),
                    |r: &PushResult| {
                        format!("sent to {} connection(s) of {}\n", r.connections, r.user)
                    },
                )
            }
            CtlCommand::Agents => self.show(out, "GET", "/v1/agents", None, |l: &AgentList| {
                agents_table(&l.agents)
            }),
            CtlCommand::Agent {
                user,
                status,
                capacity,
                weight,
                groups,
            } => {
                let path = format!("/v1/agents/{}", percent_encode(&user));
                let status = status
                    .map(|s| {
                        AgentStatus::parse(&s)
                            .with_context(|| format!("unknown status {s}: online, away or offline"))
                    })
                    .transpose()?;
                let groups = groups.map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                });
                let patch = AgentPatch {
                    status,
                    capacity,
                    weight,
                    groups,
                };
                let table = |a: &AgentView| agents_table(std::slice::from_ref(a));
                if patch == AgentPatch::default() {
                    self.show(out, "GET", &path, None, table)
                } else {
                    self.show(
                        out,
                        "PATCH",
                        &path,
                        Some(serde_json::to_value(&patch)?),
                        table,
                    )
                }
            }
            CtlCommand::Kick { conn, user, reason } => {
                let path = match (conn, &user) {
                    (Some(conn), None) => format!("/v1/connections/{conn}"),
                    (None, Some(user)) => format!("/v1/users/{}/connections", percent_encode(user)),
                    _ => bail!("give a connection id or --user, not both"),
                };
                let body = reason.map(|r| json!({ "reason": r }));
                self.show(out, "DELETE", &path, body, |k: &KickResult| {
                    format!("closed {} connection(s)\n", k.closed)
                })
            }
            CtlCommand::Drain { status } => {
                let method = if status { "GET" } else { "POST" };
                self.show(out, method, "/v1/drain", None, drain_table)
            }
            CtlCommand::Degrade { level } => match level.as_deref() {
                None => self.show(out, "GET", "/v1/degradation", None, degradation_line),
                Some(text) => {
                    let level = match text {
                        "auto" | "automatic" => None,
                        n => match n.parse::<u8>() {
                            Ok(l) if l <= crate::limits::MAX_DEGRADATION_LEVEL => Some(l),
                            _ => bail!("the level is 0, 1, 2, 3 or auto, not {n}"),
                        },
                    };
                    self.show(
                        out,
                        "PUT",
                        "/v1/degradation",
                        Some(json!({ "level": level })),
                        degradation_line,
                    )
                }
            },
            CtlCommand::Nodes => self.show(out, "GET", "/v1/nodes", None, nodes_table),
        }
    }
}

/// Renders rows as columns separated by two spaces, each as wide as its widest cell;
/// numbers are right-aligned.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| {
            !rows.is_empty()
                && rows.iter().all(|r| {
                    r.get(i)
                        .is_some_and(|c| c == "-" || c.bytes().all(|b| b.is_ascii_digit()))
                })
        })
        .collect();
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i > 0 {
                text.push_str("  ");
            }
            if numeric[i] {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                if i + 1 < cells.len() {
                    text.push_str(&" ".repeat(pad));
                }
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

fn opt<T: ToString>(value: &Option<T>) -> String {
    value.as_ref().map_or("-".to_owned(), T::to_string)
}

fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

fn stats_table(s: &NodeStats) -> String {
    let mut out = format!(
        "version {}  uptime {}  draining {}  queue {}\nconversations: waiting {}  serving {}  transferring {}  ended {}\n\n",
        s.version,
        duration(s.uptime_ms),
        s.draining,
        s.queue_length,
        s.conversations.waiting,
        s.conversations.serving,
        s.conversations.transferring,
        s.conversations.ended
    );
    let row = |name: String, c: [u64; 8]| {
        let mut r = vec![name];
        r.extend(c.iter().map(u64::to_string));
        r
    };
    let mut rows: Vec<Vec<String>> = s
        .shards
        .iter()
        .map(|x| {
            row(
                x.shard.to_string(),
                [
                    x.connections,
                    x.accepts,
                    x.rejects,
                    x.messages_in,
                    x.messages_out,
                    x.deliveries,
                    x.outbound_queue_bytes,
                    x.loop_lag_us,
                ],
            )
        })
        .collect();
    let t = &s.totals;
    rows.push(row(
        "all".into(),
        [
            t.connections,
            t.accepts,
            t.rejects,
            t.messages_in,
            t.messages_out,
            t.deliveries,
            t.outbound_queue_bytes,
            t.max_loop_lag_us,
        ],
    ));
    out.push_str(&table(
        &[
            "SHARD",
            "CONNS",
            "ACCEPTS",
            "REJECTS",
            "MSGS_IN",
            "MSGS_OUT",
            "DELIVERIES",
            "OUT_QUEUE_B",
            "LAG_US",
        ],
        &rows,
    ));
    out
}

fn conversations_table(list: &[ConversationSummary]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.state.as_str().to_owned(),
                c.visitor.clone(),
                opt(&c.agent),
                opt(&c.transfer_to),
                if c.vip { "yes" } else { "" }.to_owned(),
                duration(c.age_ms),
                duration(c.idle_ms),
                c.last_seq.to_string(),
                opt(&c.queue_position),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "STATE",
            "VISITOR",
            "AGENT",
            "TRANSFER_TO",
            "VIP",
            "AGE",
            "IDLE",
            "SEQ",
            "QUEUE",
        ],
        &rows,
    )
}

fn detail_table(d: &ConversationDetail) -> String {
    let mut out = conversations_table(std::slice::from_ref(&d.conversation));
    out.push_str(&format!("followers {}\n\n", d.followers));
    let rows: Vec<Vec<String>> = d
        .items
        .iter()
        .map(|item| match item {
            ConversationItem::Message {
                seq,
                ts,
                from,
                body,
                ..
            } => vec![seq.to_string(), ts.to_string(), from.clone(), body.clone()],
            ConversationItem::System {
                seq,
                ts,
                event,
                agent,
                position,
                reason,
            } => {
                let mut text = format!("[{event}]");
                if let Some(a) = agent {
                    text.push_str(&format!(" agent={a}"));
                }
                if let Some(p) = position {
                    text.push_str(&format!(" position={p}"));
                }
                if let Some(r) = reason {
                    text.push_str(&format!(" reason={r}"));
                }
                vec![seq.to_string(), ts.to_string(), "system".into(), text]
            }
        })
        .collect();
    out.push_str(&table(&["SEQ", "TS", "FROM", "TEXT"], &rows));
    out
}

fn agents_table(list: &[AgentView]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|a| {
            vec![
                a.user.clone(),
                a.status.as_str().to_owned(),
                format!("{}/{}", a.conversations.len(), a.capacity),
                a.weight.to_string(),
                a.connections.to_string(),
                if a.groups.is_empty() {
                    "-".to_owned()
                } else {
                    a.groups.join(",")
                },
                a.grace_left_ms.map_or("-".to_owned(), duration),
            ]
        })
        .collect();
    table(
        &[
            "USER",
            "STATUS",
            "LOAD",
            "WEIGHT",
            "CONNS",
            "GROUPS",
            "GRACE_LEFT",
        ],
        &rows,
    )
}

fn drain_table(d: &DrainStatus) -> String {
    if !d.draining {
        return "not draining\n".to_owned();
    }
    format!(
        "draining for {}: {} connection(s) left{}\n",
        d.elapsed_ms.map_or("?".to_owned(), duration),
        d.connections_left,
        if d.done { " (done)" } else { "" }
    )
}

fn degradation_line(d: &DegradationView) -> String {
    format!(
        "level {} ({}){}\n",
        d.level,
        if d.pinned { "pinned" } else { "automatic" },
        d.cause.as_ref().map_or(String::new(), |c| format!(": {c}"))
    )
}

fn nodes_table(v: &NodesView) -> String {
    let mut out = format!("mode {}", v.mode);
    if let Some(r) = &v.redis {
        out.push_str(&format!(
            "  redis {} ({})",
            r.url,
            if r.connected {
                "connected"
            } else {
                "disconnected"
            }
        ));
        if let Some(e) = &r.last_error {
            out.push_str(&format!("  last error: {e}"));
        }
    }
    out.push_str("\n\n");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let rows: Vec<Vec<String>> = v
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.number.to_string(),
                n.name.clone(),
                if n.this_node { "yes" } else { "" }.to_owned(),
                if n.router { "yes" } else { "" }.to_owned(),
                n.listen.clone(),
                opt(&n.control),
                duration(now.saturating_sub(n.started_ms)),
                duration(now.saturating_sub(n.heartbeat_ms)),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "NUMBER",
            "NAME",
            "THIS",
            "ROUTER",
            "LISTEN",
            "CONTROL",
            "UPTIME",
            "HEARTBEAT_AGE",
        ],
        &rows,
    ));
    out
}

fn events_table(page: &EventPage) -> String {
    let mut text = String::new();
    for event in &page.events {
        let seq = event.item.get("seq").and_then(serde_json::Value::as_u64);
        text.push_str(&format!(
            "{:>12}  conv {:<8} seq {:<6} {}\n",
            event.cursor,
            event.conv,
            seq.map_or_else(|| "-".into(), |s| s.to_string()),
            event.kind
        ));
    }
    text.push_str(&format!("next_cursor {}\n", page.next_cursor));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns() {
        let t = table(
            &["ID", "NAME"],
            &[
                vec!["7".into(), "alice".into()],
                vec!["123".into(), "bo".into()],
            ],
        );
        assert_eq!(t, " ID  NAME\n  7  alice\n123  bo\n");
    }

    #[test]
    fn nodes_table_shows_mode_redis_and_rows() {
        let view = NodesView {
            mode: "cluster".into(),
            redis: Some(RedisStatusView {
                connected: false,
                url: "redis://:***@10.0.0.1:6379/".into(),
                last_error: Some("connection refused".into()),
            }),
            nodes: vec![NodeView {
                name: "n1".into(),
                number: 1,
                listen: "10.0.0.2:8080".into(),
                control: None,
                started_ms: 0,
                heartbeat_ms: 0,
                this_node: true,
                router: true,
            }],
        };
        let text = nodes_table(&view);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(
                "mode cluster  redis redis://:***@10.0.0.1:6379/ (disconnected)  last error: connection refused"
            )
        );
        assert_eq!(lines.next(), Some(""));
        assert!(lines.next().unwrap().starts_with("NUMBER  NAME  THIS"));
        let row = lines.next().unwrap();
        assert!(row.contains("n1") && row.contains("yes") && row.contains("10.0.0.2:8080"));
        let single = NodesView {
            mode: "single".into(),
            redis: None,
            nodes: vec![],
        };
        assert!(nodes_table(&single).starts_with("mode single\n\n"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration(5), "5ms");
        assert_eq!(duration(1500), "1.5s");
        assert_eq!(duration(61_000), "1m01s");
        assert_eq!(duration(3_660_000), "1h01m");
    }
}
