//! `chat-idle`: authenticated, quiet chat connections on `/v1/ws`, held open.
//!
//! Each connection upgrades with a dev-authenticator token — every `--agent-every`-th
//! an agent (`agent:<prefix>a<N>`), the rest visitors (`<prefix>v<N>`), N the global
//! connection index — waits for its `welcome` (checked: the user and role it asked
//! for), then sends nothing but the pong to every server ping until `--hold` ends.
//! An agent is online as soon as it connects, so each agent says `agent_status away`
//! right after its welcome (a console left open by someone not taking chats): the
//! router never assigns it, and a chat run beside the idle connections is not
//! disturbed. This is the load of a node full of open chat
//! widgets and consoles where nobody types: what it costs in memory and CPU.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde::{Deserialize, Serialize};
use switchboard_protocol::chat::{
    self, AgentStatus, ClientFrame, Decoder, Encoding, OwnedServerFrame, Role,
};

use crate::chat::EncodingArg;
use crate::job::Scenario;
use crate::{finish, go, held_outcome, parse_duration, plan, start, CommonArgs, Outcome};

/// Flags of `chat-idle`.
#[derive(Debug, Args)]
pub struct ChatIdleArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// How long to hold the connections once every one is open and welcomed.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    hold: Duration,
    /// Every N-th connection is an agent (0: visitors only).
    #[arg(long, default_value_t = 10)]
    agent_every: u64,
    /// User ids start with this (default: random per run).
    #[arg(long)]
    id_prefix: Option<String>,
    /// Wire encoding (the subprotocol offered).
    #[arg(long, value_enum, default_value = "json")]
    encoding: EncodingArg,
}

/// What a worker needs to play its share of `chat-idle`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatIdlePlan {
    /// Hold this long after the go signal.
    pub hold: Duration,
    /// Every N-th connection is an agent (0: none).
    pub agent_every: u64,
    /// Prefix of every user id.
    pub prefix: String,
    /// The encoding offered and expected.
    pub encoding: Encoding,
}

impl ChatIdlePlan {
    /// Whether connection `id` plays an agent.
    pub fn is_agent(&self, id: u32) -> bool {
        self.agent_every > 0 && u64::from(id) % self.agent_every == 0
    }

    /// The user id connection `id` logs in as.
    pub fn user(&self, id: u32) -> String {
        let kind = if self.is_agent(id) { 'a' } else { 'v' };
        format!("{}{kind}{id}", self.prefix)
    }

    /// Path and query of connection `id`'s upgrade request, on `base` (e.g. `/v1/ws`).
    pub fn path(&self, base: &str, id: u32) -> String {
        let sep = if base.contains('?') { '&' } else { '?' };
        let role = if self.is_agent(id) { "agent:" } else { "" };
        format!("{base}{sep}token={role}{}", self.user(id))
    }

    /// The payload connection `id` sends once welcomed: `agent_status away` for an
    /// agent, nothing for a visitor.
    pub fn after_welcome(&self, id: u32) -> Option<Vec<u8>> {
        let mut payload = Vec::new();
        let away = ClientFrame::AgentStatus {
            status: AgentStatus::Away,
            capacity: None,
        };
        self.is_agent(id).then(|| {
            chat::encode_client(self.encoding, &away, &mut payload);
            payload
        })
    }

    /// Why a frame after the welcome is wrong, naming it when it decodes.
    pub fn describe_unexpected(&self, decoder: &mut Decoder, payload: &[u8]) -> String {
        match decoder.decode_server(self.encoding, payload) {
            Ok(frame) => format!("a {} frame after the welcome", frame.type_name()),
            Err(err) => format!("an undecodable frame after the welcome: {err}"),
        }
    }

    /// Checks a frame received on connection `id`: Ok when it is the `welcome` it
    /// should get, else why not.
    pub fn check_welcome(
        &self,
        decoder: &mut Decoder,
        id: u32,
        payload: &[u8],
    ) -> Result<(), String> {
        let frame = decoder
            .decode_server(self.encoding, payload)
            .map_err(|err| format!("undecodable frame: {err}"))?;
        let OwnedServerFrame::Welcome { user, role, .. } = frame else {
            return Err(format!("unexpected {} frame", frame.type_name()));
        };
        let want_role = if self.is_agent(id) {
            Role::Agent
        } else {
            Role::Visitor
        };
        let want_user = self.user(id);
        if user != want_user || role != want_role {
            return Err(format!(
                "welcome for {user:?} as {role:?}, expected {want_user:?} as {want_role:?}"
            ));
        }
        Ok(())
    }
}

/// Runs `chat-idle`: connect, wait for every welcome, say so on stderr, hold, report.
pub fn run(args: ChatIdleArgs) -> anyhow::Result<Outcome> {
    if !args.common.url.contains("/v1/ws") {
        bail!("chat-idle talks to the chat endpoint: --url ws://HOST:PORT/v1/ws");
    }
    let idle = ChatIdlePlan {
        hold: args.hold,
        agent_every: args.agent_every,
        prefix: args
            .id_prefix
            .clone()
            .unwrap_or_else(crate::chat::random_prefix),
        encoding: args.encoding.encoding(),
    };
    let plan = plan(&args.common, Scenario::ChatIdle(idle))?;
    let connecting = Instant::now();
    let (mut members, connected) = start(&plan)?;
    let connect_seconds = connecting.elapsed().as_secs_f64();
    // The line the box benchmark waits for before it measures.
    eprintln!(
        "chat-idle ready: {} open and welcomed, {} failed, in {connect_seconds:.2} s ({:.0} connections/s)",
        connected.connections_ok,
        connected.connections_failed,
        connected.connections_ok as f64 / connect_seconds.max(1e-9)
    );
    go(&mut members)?;
    let (mut tally, _) = finish(members)?;
    tally.connections_ok = connected.connections_ok;
    tally.connections_failed = connected.connections_failed;
    tally.connect_seconds = connect_seconds;
    let clean = tally.is_clean()
        && tally.connections_ok == args.common.connections
        && tally.welcomes == tally.connections_ok
        && tally.corrupt == 0;
    Ok(held_outcome(
        "chat-idle",
        &plan,
        &args.common,
        args.hold,
        tally,
        None,
        clean,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::chat::ServerFrame;

    fn plan() -> ChatIdlePlan {
        ChatIdlePlan {
            hold: Duration::ZERO,
            agent_every: 4,
            prefix: "p".into(),
            encoding: Encoding::Json,
        }
    }

    fn welcome(user: &str, role: Role) -> Vec<u8> {
        let mut out = Vec::new();
        let frame = ServerFrame::Welcome {
            conn: 1,
            shard: 0,
            user,
            role,
        };
        chat::encode_server(Encoding::Json, &frame, &mut out);
        out
    }

    #[test]
    fn agents_and_visitors_get_their_tokens() {
        let p = plan();
        assert_eq!(p.path("/v1/ws", 8), "/v1/ws?token=agent:pa8");
        assert_eq!(p.path("/v1/ws?x=1", 9), "/v1/ws?x=1&token=pv9");
        let none = ChatIdlePlan {
            agent_every: 0,
            ..plan()
        };
        assert!(!none.is_agent(0));
    }

    #[test]
    fn agents_go_away_after_the_welcome_and_visitors_stay_silent() {
        let p = plan();
        let away = p.after_welcome(8).expect("agents send a status");
        let mut decoder = Decoder::default();
        let sent = decoder.decode_client(Encoding::Json, &away);
        assert!(
            matches!(
                sent,
                Ok(ClientFrame::AgentStatus {
                    status: AgentStatus::Away,
                    capacity: None
                })
            ),
            "{sent:?}"
        );
        assert_eq!(p.after_welcome(9), None);
    }

    #[test]
    fn only_the_expected_welcome_passes() {
        let p = plan();
        let mut d = Decoder::default();
        assert_eq!(
            p.check_welcome(&mut d, 8, &welcome("pa8", Role::Agent)),
            Ok(())
        );
        assert!(p
            .check_welcome(&mut d, 8, &welcome("pa8", Role::Visitor))
            .is_err());
        assert!(p
            .check_welcome(&mut d, 9, &welcome("pv8", Role::Visitor))
            .is_err());
        assert!(p.check_welcome(&mut d, 9, b"{not json").is_err());
    }
}
