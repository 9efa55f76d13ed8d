//! Prints a markdown table of the payload size of typical chat frames in the binary
//! (rkyv) and JSON encodings, for `docs/performance.md`.
//!
//! `cargo run -p switchboard-protocol --example frame_sizes` prints the table;
//! with `-- --dump` it prints one example of every frame type in both encodings
//! instead (JSON as text, binary as a hex dump), for `docs/protocol.md`.

use std::borrow::Cow;

use switchboard_protocol::chat::{
    encode_client, encode_server, AgentStatus, ClientFrame, ConversationState, Encoding, Role,
    ServerFrame, SystemKind,
};
use switchboard_protocol::ws::{encode_header, Opcode};

/// A typical chat line: exactly 40 characters.
const LINE_40: &str = "Hi, I'd like to change my delivery date.";
/// A typical client message id (a UUID, 36 bytes).
const MSG_ID: &str = "5f0c8d1e-6a0b-4f7e-9b1f-2d6a4c3e8f10";
/// A typical application event from the back end.
const EVENT_NAME: &str = "order_shipped";
const EVENT_DATA: &str = r#"{"order":"A-17","carrier":"DHL","items":[{"sku":"TS-042","qty":2}]}"#;
/// Conversation id, sequence number and server time of the conversation samples.
const CONV: u64 = 1_000_042;
const SEQ: u64 = 17;
const TS: u64 = 1_763_845_200_000;

/// One frame of the table.
struct Sample {
    name: &'static str,
    /// Client frames are masked on the wire: 4 more header bytes.
    from_client: bool,
    frame: Frame,
}

enum Frame {
    Client(ClientFrame<'static>),
    Server(ServerFrame<'static>),
}

impl Sample {
    fn encode(&self, encoding: Encoding) -> Vec<u8> {
        let mut out = Vec::new();
        match &self.frame {
            Frame::Client(frame) => encode_client(encoding, frame, &mut out),
            Frame::Server(frame) => encode_server(encoding, frame, &mut out),
        }
        out
    }

    /// Payload plus the WebSocket header that carries it.
    fn on_the_wire(&self, payload_len: usize) -> usize {
        let mut header = Vec::new();
        let mask = self.from_client.then_some([0; 4]);
        encode_header(&mut header, true, Opcode::Binary, payload_len, mask);
        header.len() + payload_len
    }
}

fn chinese_200() -> &'static str {
    let sentence =
        "您好，我想查询一下我的订单什么时候发货，另外能不能把收货地址改成公司的地址？谢谢！";
    let text: String = sentence.chars().cycle().take(200).collect();
    Box::leak(text.into_boxed_str())
}

fn samples() -> Vec<Sample> {
    let chinese = chinese_200();
    let server = |name, frame| Sample {
        name,
        from_client: false,
        frame: Frame::Server(frame),
    };
    let client = |name, body: &'static str| Sample {
        name,
        from_client: true,
        frame: Frame::Client(ClientFrame::Direct {
            to: 1042,
            body: Cow::Borrowed(body),
        }),
    };
    vec![
        server(
            "welcome",
            ServerFrame::Welcome {
                conn: 1041,
                shard: 3,
                user: "alice",
                role: Role::Visitor,
            },
        ),
        client("direct \"hi\"", "hi"),
        server(
            "delivered \"hi\"",
            ServerFrame::Delivered {
                from: 1041,
                body: "hi",
            },
        ),
        client("direct, 40-char line", LINE_40),
        server(
            "delivered, 40-char line",
            ServerFrame::Delivered {
                from: 1041,
                body: LINE_40,
            },
        ),
        server(
            "delivered, 200-char Chinese line",
            ServerFrame::Delivered {
                from: 1041,
                body: chinese,
            },
        ),
        Sample {
            name: "send, 40-char line",
            from_client: true,
            frame: Frame::Client(ClientFrame::Send {
                conv: CONV,
                client_msg_id: Cow::Borrowed(MSG_ID),
                body: Cow::Borrowed(LINE_40),
            }),
        },
        server("message, 40-char line", message(LINE_40)),
        server("sent", sent()),
        server("system assigned", system_assigned()),
        server("event order_shipped", event()),
        server(
            "error unknown_connection",
            ServerFrame::Error {
                code: "unknown_connection",
                message: "connection 1042 is not connected",
            },
        ),
    ]
}

fn message(body: &'static str) -> ServerFrame<'static> {
    ServerFrame::Message {
        conv: CONV,
        seq: SEQ,
        ts: TS,
        from: "alice",
        client_msg_id: MSG_ID,
        body,
    }
}

fn sent() -> ServerFrame<'static> {
    ServerFrame::Sent {
        conv: CONV,
        client_msg_id: MSG_ID,
        seq: SEQ,
        ts: TS,
    }
}

fn system_assigned() -> ServerFrame<'static> {
    ServerFrame::System {
        conv: CONV,
        seq: SEQ + 1,
        ts: TS,
        event: SystemKind::Assigned,
        agent: Some("agent-bob"),
        position: None,
        reason: None,
    }
}

fn event() -> ServerFrame<'static> {
    ServerFrame::Event {
        name: EVENT_NAME,
        data: EVENT_DATA,
    }
}

/// One example of every frame type, for the dump in `docs/protocol.md`.
fn every_frame() -> Vec<Sample> {
    let client = |name, frame| Sample {
        name,
        from_client: true,
        frame: Frame::Client(frame),
    };
    let server = |name, frame| Sample {
        name,
        from_client: false,
        frame: Frame::Server(frame),
    };
    vec![
        client(
            "direct",
            ClientFrame::Direct {
                to: 1042,
                body: Cow::Borrowed("hi"),
            },
        ),
        client("start", ClientFrame::Start),
        client(
            "send",
            ClientFrame::Send {
                conv: CONV,
                client_msg_id: Cow::Borrowed(MSG_ID),
                body: Cow::Borrowed("hi"),
            },
        ),
        client(
            "ack",
            ClientFrame::Ack {
                conv: CONV,
                seq: SEQ,
            },
        ),
        client(
            "resume",
            ClientFrame::Resume {
                conv: CONV,
                after_seq: SEQ,
            },
        ),
        client("typing (client)", ClientFrame::Typing { conv: CONV }),
        client(
            "read (client)",
            ClientFrame::Read {
                conv: CONV,
                seq: SEQ,
            },
        ),
        client("end", ClientFrame::End { conv: CONV }),
        client(
            "agent_status",
            ClientFrame::AgentStatus {
                status: AgentStatus::Online,
                capacity: Some(5),
            },
        ),
        client(
            "transfer",
            ClientFrame::Transfer {
                conv: CONV,
                to: Cow::Borrowed("agent-carol"),
            },
        ),
        client(
            "accept_transfer",
            ClientFrame::AcceptTransfer { conv: CONV },
        ),
        client(
            "decline_transfer",
            ClientFrame::DeclineTransfer { conv: CONV },
        ),
        server(
            "welcome",
            ServerFrame::Welcome {
                conn: 1041,
                shard: 3,
                user: "alice",
                role: Role::Visitor,
            },
        ),
        server(
            "conversation",
            ServerFrame::Conversation {
                conv: CONV,
                state: ConversationState::Serving,
                visitor: "alice",
                agent: Some("agent-bob"),
                last_seq: SEQ,
            },
        ),
        server("message", message("hi")),
        server("system (assigned)", system_assigned()),
        server(
            "system (queue_position)",
            ServerFrame::System {
                conv: CONV,
                seq: SEQ + 2,
                ts: TS,
                event: SystemKind::QueuePosition,
                agent: None,
                position: Some(3),
                reason: None,
            },
        ),
        server(
            "system (ended)",
            ServerFrame::System {
                conv: CONV,
                seq: SEQ + 3,
                ts: TS,
                event: SystemKind::Ended,
                agent: None,
                position: None,
                reason: Some("inactivity"),
            },
        ),
        server("sent", sent()),
        server(
            "typing (server)",
            ServerFrame::Typing {
                conv: CONV,
                from: "alice",
            },
        ),
        server(
            "read (server)",
            ServerFrame::Read {
                conv: CONV,
                from: "agent-bob",
                seq: SEQ,
            },
        ),
        server(
            "gap",
            ServerFrame::Gap {
                conv: CONV,
                after_seq: 3,
                oldest_seq: 9,
            },
        ),
        server(
            "transfer_offer",
            ServerFrame::TransferOffer {
                conv: CONV,
                from_agent: "agent-bob",
                visitor: "alice",
            },
        ),
        server("event", event()),
        server(
            "delivered",
            ServerFrame::Delivered {
                from: 1041,
                body: "hi",
            },
        ),
        server(
            "error",
            ServerFrame::Error {
                code: "client_msg_id_too_long",
                message: "client_msg_id is 70 bytes, over the 64 allowed",
            },
        ),
    ]
}

fn print_table(samples: &[Sample]) {
    println!(
        "| frame | binary B | JSON B | binary/JSON | on the wire with WS header: binary / JSON B |"
    );
    println!("|---|---:|---:|---:|---:|");
    let (mut binary_total, mut json_total) = (0, 0);
    for sample in samples {
        let binary = sample.encode(Encoding::Binary).len();
        let json = sample.encode(Encoding::Json).len();
        binary_total += binary;
        json_total += json;
        println!(
            "| {} | {binary} | {json} | {:.2} | {} / {} |",
            sample.name,
            binary as f64 / json as f64,
            sample.on_the_wire(binary),
            sample.on_the_wire(json),
        );
    }
    println!(
        "| **all of the above** | {binary_total} | {json_total} | {:.2} | |",
        binary_total as f64 / json_total as f64
    );
}

fn print_dump(samples: &[Sample]) {
    for sample in samples {
        println!("#### {}\n", sample.name);
        let json = sample.encode(Encoding::Json);
        println!(
            "JSON ({} bytes):\n\n```json\n{}\n```\n",
            json.len(),
            String::from_utf8_lossy(&json)
        );
        let binary = sample.encode(Encoding::Binary);
        println!("Binary ({} bytes):\n\n```text", binary.len());
        for (row, chunk) in binary.chunks(16).enumerate() {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let ascii: String = chunk
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            println!("{:04x}  {:<47}  {ascii}", row * 16, hex.join(" "));
        }
        println!("```\n");
    }
}

fn main() {
    assert_eq!(LINE_40.chars().count(), 40);
    if std::env::args().any(|arg| arg == "--dump") {
        print_dump(&every_frame());
    } else {
        print_table(&samples());
    }
}
