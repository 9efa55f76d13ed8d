//! Chat frames and the WebSocket layer under them, each beside a baseline:
//!
//! - `frames/encode/*` and `frames/decode/*`: the rkyv binary encoding against the
//!   JSON one (the baseline) on typical frames; the encoded sizes are printed at start.
//! - `ws/feed_1000x64`: [`ws::Reader::feed`] on 1,000 masked 64-byte frames against
//!   tungstenite's `WebSocket::read` on the same bytes.
//! - `ws/apply_mask/*`: [`ws::apply_mask`] against a byte-at-a-time XOR loop.
//!
//! Run with `cargo bench -p switchboard-bench --bench frames`.

use std::borrow::Cow;
use std::hint::black_box;
use std::io::Cursor;

use criterion::{Criterion, Throughput};
use switchboard_protocol::chat::{self, ClientFrame, Decoder, Encoding, ServerFrame, SystemKind};
use switchboard_protocol::ws::{self, Limits, Opcode, Reader};

/// A 40-character chat line, the common case.
const LINE_40: &str = "Hi, my order #4411 has not arrived yet.!";

/// A Chinese line of 600 bytes (200 three-byte characters).
fn line_cjk_600() -> String {
    "您好我的订单还没有到请帮我查一下谢谢"
        .chars()
        .cycle()
        .take(200)
        .collect()
}

/// Client frames (decoded by the engine) and server frames (encoded by the engine).
struct Samples {
    client: Vec<(&'static str, ClientFrame<'static>)>,
    server: Vec<(&'static str, ServerFrame<'static>)>,
}

fn samples() -> Samples {
    // Leaked once so the frames can borrow it for the whole run.
    let cjk: &'static str = Box::leak(line_cjk_600().into_boxed_str());
    assert_eq!(cjk.len(), 600);
    let send = |body: &'static str| ClientFrame::Send {
        conv: 1_048_577,
        client_msg_id: Cow::Borrowed("c-7f3a9e21-0042"),
        body: Cow::Borrowed(body),
    };
    let message = |body: &'static str| ServerFrame::Message {
        conv: 1_048_577,
        seq: 1_234,
        ts: 1_767_225_600_123,
        from: "visitor-8c1f2b",
        client_msg_id: "c-7f3a9e21-0042",
        body,
    };
    Samples {
        client: vec![("send_40", send(LINE_40)), ("send_cjk600", send(cjk))],
        server: vec![
            ("message_40", message(LINE_40)),
            ("message_cjk600", message(cjk)),
            (
                "system_assigned",
                ServerFrame::System {
                    conv: 1_048_577,
                    seq: 2,
                    ts: 1_767_225_600_123,
                    event: SystemKind::Assigned,
                    agent: Some("agent-ana"),
                    position: None,
                    reason: None,
                },
            ),
        ],
    }
}

/// JSON first: it is the baseline the binary encoding is compared with.
const ENCODINGS: [(&str, Encoding); 2] = [("json", Encoding::Json), ("binary", Encoding::Binary)];

fn print_sizes(samples: &Samples) {
    eprintln!("encoded payload sizes (bytes, no WebSocket header):");
    eprintln!(
        "  {:<16} {:>6} {:>6} {:>13}",
        "frame", "json", "binary", "binary/json"
    );
    let sizes = |name: &str, encode: &dyn Fn(Encoding, &mut Vec<u8>)| {
        let [json, binary] = ENCODINGS.map(|(_, encoding)| {
            let mut out = Vec::new();
            encode(encoding, &mut out);
            out.len()
        });
        let ratio = binary as f64 / json as f64;
        eprintln!("  {name:<16} {json:>6} {binary:>6} {ratio:>13.2}");
    };
    for (name, frame) in &samples.client {
        sizes(name, &|e, out| chat::encode_client(e, frame, out));
    }
    for (name, frame) in &samples.server {
        sizes(name, &|e, out| chat::encode_server(e, frame, out));
    }
}

fn encode(c: &mut Criterion, samples: &Samples) {
    for (name, frame) in &samples.client {
        let mut group = c.benchmark_group(format!("frames/encode/{name}"));
        for (label, encoding) in ENCODINGS {
            let mut out = Vec::with_capacity(1024);
            group.bench_function(label, |b| {
                b.iter(|| {
                    out.clear();
                    chat::encode_client(encoding, black_box(frame), &mut out);
                    black_box(out.len())
                })
            });
        }
        group.finish();
    }
    for (name, frame) in &samples.server {
        let mut group = c.benchmark_group(format!("frames/encode/{name}"));
        for (label, encoding) in ENCODINGS {
            let mut out = Vec::with_capacity(1024);
            group.bench_function(label, |b| {
                b.iter(|| {
                    out.clear();
                    chat::encode_server(encoding, black_box(frame), &mut out);
                    black_box(out.len())
                })
            });
        }
        group.finish();
    }
}

/// Client frames are decoded as the engine does (borrowing, limits checked); server
/// frames as a client or the loadgen does (into owned strings).
fn decode(c: &mut Criterion, samples: &Samples) {
    for (name, frame) in &samples.client {
        let mut group = c.benchmark_group(format!("frames/decode/{name}"));
        for (label, encoding) in ENCODINGS {
            let mut payload = Vec::new();
            chat::encode_client(encoding, frame, &mut payload);
            let mut decoder = Decoder::default();
            group.bench_function(label, |b| {
                b.iter(|| {
                    let frame = decoder
                        .decode_client(encoding, black_box(&payload))
                        .expect("decodes");
                    black_box(frame);
                })
            });
        }
        group.finish();
    }
    for (name, frame) in &samples.server {
        let mut group = c.benchmark_group(format!("frames/decode/{name}"));
        for (label, encoding) in ENCODINGS {
            let mut payload = Vec::new();
            chat::encode_server(encoding, frame, &mut payload);
            let mut decoder = Decoder::default();
            group.bench_function(label, |b| {
                b.iter(|| {
                    black_box(
                        decoder
                            .decode_server(encoding, black_box(&payload))
                            .expect("decodes"),
                    )
                })
            });
        }
        group.finish();
    }
}

const FRAMES_PER_BUFFER: usize = 1_000;
const FRAME_PAYLOAD: usize = 64;

/// 1,000 masked binary frames of 64 bytes, back to back, as one receive buffer.
fn masked_frames() -> Vec<u8> {
    let payload: Vec<u8> = (0..FRAME_PAYLOAD as u8).collect();
    let mut wire = Vec::new();
    for i in 0..FRAMES_PER_BUFFER as u32 {
        let mask = (i.wrapping_mul(0x9E37_79B9) | 1).to_be_bytes();
        ws::encode_frame(&mut wire, Opcode::Binary, &payload, Some(mask));
    }
    wire
}

fn feed(c: &mut Criterion) {
    let wire = masked_frames();
    let mut group = c.benchmark_group("ws/feed_1000x64");
    group.throughput(Throughput::Elements(FRAMES_PER_BUFFER as u64));

    // Baseline: tungstenite reads from an in-memory stream into its own buffer and
    // unmasks there, so rewinding the stream replays the same masked bytes.
    let config = tungstenite::protocol::WebSocketConfig::default();
    let mut socket = tungstenite::WebSocket::from_raw_socket(
        Cursor::new(wire.clone()),
        tungstenite::protocol::Role::Server,
        Some(config),
    );
    group.bench_function("tungstenite", |b| {
        b.iter(|| {
            socket.get_mut().set_position(0);
            let mut bytes = 0;
            for _ in 0..FRAMES_PER_BUFFER {
                match socket.read().expect("a frame") {
                    tungstenite::Message::Binary(payload) => bytes += payload.len(),
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(bytes, FRAMES_PER_BUFFER * FRAME_PAYLOAD);
        })
    });

    // The reader unmasks in place, so each round starts from a fresh copy of the
    // masked bytes (tungstenite makes the same copy into its read buffer).
    let limits = Limits {
        max_frame: 1 << 20,
        max_message: 1 << 20,
        role: ws::Role::Server,
    };
    let mut reader = Reader::default();
    let mut buffer = wire.clone();
    group.bench_function("switchboard_reader", |b| {
        b.iter(|| {
            buffer.copy_from_slice(&wire);
            let mut bytes = 0;
            let stopped = reader
                .feed(&mut buffer, &limits, &mut |event| {
                    if let ws::Event::Message { payload, .. } = event {
                        bytes += payload.len();
                    }
                    true
                })
                .expect("valid frames");
            assert!(!stopped && reader.is_idle());
            assert_eq!(bytes, FRAMES_PER_BUFFER * FRAME_PAYLOAD);
        })
    });
    group.finish();
}

/// The obvious mask loop, one byte at a time (what the engine's version replaces).
fn mask_bytewise(data: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

fn mask(c: &mut Criterion) {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    for size in [64usize, 1_500, 65_536] {
        let mut group = c.benchmark_group(format!("ws/apply_mask/{size}"));
        group.throughput(Throughput::Bytes(size as u64));
        let mut data = vec![0x5au8; size];
        group.bench_function("bytewise", |b| {
            b.iter(|| mask_bytewise(black_box(&mut data), black_box(key)))
        });
        group.bench_function("switchboard", |b| {
            b.iter(|| ws::apply_mask(black_box(&mut data), black_box(key)))
        });
        group.finish();
    }
}

fn benches(c: &mut Criterion) {
    let samples = samples();
    print_sizes(&samples);
    encode(c, &samples);
    decode(c, &samples);
    feed(c);
    mask(c);
}

/// What `criterion_main!` would generate, without its undocumented public function.
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
