//! TLS on the public listener (`--tls-cert`/`--tls-key`), tested with clients written
//! by others and a test CA made with the `openssl` command line: Python `websockets`
//! chatting over wss:// on both I/O drivers, curl's https `/health`, a plain-text
//! client refused without harm, SIGHUP certificate reloads, the TLS 1.2 switch, SNI
//! with two certificates, and the start-up errors.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use switchboard_tests::control_client::Control;
use switchboard_tests::tls::{curl, python_with_websockets, text, wss_client_script, TestPki};
use switchboard_tests::{tcp_connect, wait_for, Server, IO_TIMEOUT};

/// A TLS node for the tests' clients. No session tickets: Python's sync `websockets`
/// client reads (a ticket arriving after the handshake) on one thread while it writes
/// its upgrade request on another, and OpenSSL does not allow that on one connection —
/// about 2 % of its connections then lose the request and hang (measured: 6 in 300
/// with tickets, 0 in 300 without; curl, Node `ws` and the asyncio client lose none).
/// `tickets_are_sent_by_default` covers the default.
fn start_tls(pki_flags: &[String], extra: &[&str]) -> Server {
    let mut args: Vec<&str> = vec![
        "--shards",
        "2",
        "--close-timeout-ms",
        "1000",
        "--tls-tickets",
        "0",
    ];
    args.extend(pki_flags.iter().map(String::as_str));
    args.extend(extra);
    Server::start(&args)
}

fn base_url(server: &Server) -> String {
    format!("wss://127.0.0.1:{}", server.addr().port())
}

/// The sum over shards of a counter in the control API's `/metrics`.
fn metric(server: &Server, name: &str) -> u64 {
    let body = Control::of(server)
        .request("GET", "/metrics", None)
        .body_text();
    body.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn health_over_https(server: &Server, pki: &TestPki, extra: &[&str]) -> std::process::Output {
    let url = format!("https://127.0.0.1:{}/health", server.addr().port());
    let mut args = extra.to_vec();
    args.push(&url);
    curl(&pki.ca(), &args)
}

fn python_chat(server: &Server, pki: &TestPki) {
    python_client(server, pki, "chat", &base_url(server));
}

fn python_client(server: &Server, pki: &TestPki, command: &str, base: &str) {
    let out = Command::new(python_with_websockets())
        .arg(wss_client_script())
        .args([command, base])
        .arg(pki.ca())
        .output()
        .expect("python");
    assert!(
        out.status.success() && text(&out.stdout).trim() == "ok",
        "python wss {command} failed:\nstdout: {}\nstderr: {}\nserver: {}",
        text(&out.stdout),
        text(&out.stderr),
        server.stderr_so_far()
    );
}

#[test]
fn python_websockets_chats_over_wss_on_io_uring() {
    let pki = TestPki::new();
    let cert = pki.issue("server", &["localhost"], "1A01");
    let server = start_tls(&cert.flags(), &["--io-driver", "io-uring"]);
    assert_eq!(server.health_over(&pki)["io_driver"], "io_uring");
    python_chat(&server, &pki);
    assert!(metric(&server, "switchboard_tls_handshakes_total") >= 2);
}

#[test]
fn python_websockets_chats_over_wss_on_epoll() {
    let pki = TestPki::new();
    let cert = pki.issue("server", &["localhost"], "1A02");
    let server = start_tls(&cert.flags(), &["--io-driver", "epoll"]);
    assert_eq!(server.health_over(&pki)["io_driver"], "epoll");
    python_chat(&server, &pki);
}

#[test]
fn large_messages_and_records_cut_into_small_pieces_come_back_whole() {
    let pki = TestPki::new();
    let cert = pki.issue("server", &["localhost"], "1A08");
    for api in ["unbuffered", "buffered"] {
        let server = start_tls(
            &cert.flags(),
            &["--max-frame-bytes", "1048576", "--tls-api", api],
        );
        // Straight, then through a proxy that cuts what the client sends into pieces of
        // 1 to 40 bytes, so records (the handshake's too) arrive across many reads.
        python_client(&server, &pki, "echo", &base_url(&server));
        let proxy = chopping_proxy(server.addr());
        python_client(&server, &pki, "echo", &format!("wss://{proxy}"));
    }
}

/// A loopback proxy to `to` that forwards the client's bytes in small pieces (each
/// its own segment: TCP_NODELAY) and the server's as they come. Runs until the test
/// process ends.
fn chopping_proxy(to: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(to) else {
                continue;
            };
            let _ = server.set_nodelay(true);
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut piece = 1;
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    for chunk in buf[..n].chunks(piece) {
                        if s_write.write_all(chunk).is_err() {
                            return;
                        }
                        piece = piece % 40 + 1;
                    }
                }
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

/// `/health` over https with curl, as JSON.
trait HealthOver {
    fn health_over(&self, pki: &TestPki) -> serde_json::Value;
}

impl HealthOver for Server {
    fn health_over(&self, pki: &TestPki) -> serde_json::Value {
        let out = health_over_https(self, pki, &[]);
        assert!(
            out.status.success(),
            "curl https /health: {}\nserver: {}",
            text(&out.stderr),
            self.stderr_so_far()
        );
        serde_json::from_slice(&out.stdout).expect("health JSON")
    }
}

#[test]
fn curl_gets_https_health_with_tls13_and_alpn_http11() {
    let pki = TestPki::new();
    let cert = pki.issue("server", &["localhost"], "1A03");
    let server = start_tls(&cert.flags(), &[]);
    let out = health_over_https(&server, &pki, &["-v"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let verbose = text(&out.stderr);
    assert!(verbose.contains("TLSv1.3"), "{verbose}");
    assert!(
        verbose.contains("ALPN: server accepted http/1.1"),
        "{verbose}"
    );
    let health: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(health["status"], "ok");
}

#[test]
fn a_plain_text_client_is_refused_and_the_server_goes_on() {
    let pki = TestPki::new();
    let cert = pki.issue("server", &["localhost"], "1A04");
    let server = start_tls(&cert.flags(), &[]);
    for _ in 0..3 {
        let mut plain = tcp_connect(server.addr());
        plain
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        plain.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut answer = Vec::new();
        // Closed (an alert at most, then EOF or a reset), never served, never hanging.
        match plain.read_to_end(&mut answer) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("plain-text client neither refused nor closed: {e}"),
        }
        assert!(
            !text(&answer).contains("HTTP/1.1"),
            "plain text was served: {answer:?}"
        );
    }
    assert_eq!(server.health_over(&pki)["status"], "ok");
    let failures = wait_for(IO_TIMEOUT, || {
        let n = metric(&server, "switchboard_tls_handshake_failures_total");
        (n >= 3).then_some(n)
    });
    assert!(failures.is_some(), "handshake failures not counted");
}

#[test]
fn sighup_new_handshakes_get_the_new_certificate_and_old_connections_go_on() {
    let pki = TestPki::new();
    let first = pki.issue("server", &["localhost"], "1B01");
    let mut server = start_tls(&first.flags(), &[]);
    let mut client = Command::new(python_with_websockets())
        .arg(wss_client_script())
        .args(["hold", &base_url(&server)])
        .arg(pki.ca())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python");
    let mut stdin = client.stdin.take().unwrap();
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let mut next = move || lines.next().expect("a line from the client").unwrap();
    assert_eq!(next(), "serial 1B01");

    // A new certificate in the same files, then SIGHUP.
    let second = pki.issue("next", &["localhost"], "1B02");
    std::fs::copy(&second.cert, &first.cert).unwrap();
    std::fs::copy(&second.key, &first.key).unwrap();
    server.signal(libc::SIGHUP);
    let reloaded = wait_for(IO_TIMEOUT, || {
        server
            .stderr_so_far()
            .contains("TLS certificates reloaded")
            .then_some(())
    });
    assert!(reloaded.is_some(), "{}", server.stderr_so_far());
    writeln!(stdin, "check").unwrap();
    assert_eq!(next(), "old ok");
    assert_eq!(next(), "new 1B02");

    // A broken file: the reload is refused with a reason, the last good one stays.
    std::fs::write(&first.cert, "not a certificate").unwrap();
    server.signal(libc::SIGHUP);
    let refused = wait_for(IO_TIMEOUT, || {
        server
            .stderr_so_far()
            .contains("TLS certificates not reloaded")
            .then_some(())
    });
    assert!(refused.is_some(), "{}", server.stderr_so_far());
    writeln!(stdin, "check").unwrap();
    assert_eq!(next(), "old ok");
    assert_eq!(next(), "new 1B02");
    drop(stdin);
    let status = client.wait().unwrap();
    assert!(status.success());
    assert_eq!(server.health_over(&pki)["status"], "ok");
}

#[test]
fn a_tls12_only_client_is_refused_by_default_and_accepted_with_the_flag() {
    let pki = TestPki::new();
    let cert = pki.issue("server", &["localhost"], "1A05");
    let strict = start_tls(&cert.flags(), &[]);
    let out = health_over_https(&strict, &pki, &["--tls-max", "1.2"]);
    assert!(!out.status.success(), "a TLS 1.2 client got in");
    assert!(
        text(&out.stderr).contains("protocol version"),
        "{}",
        text(&out.stderr)
    );
    let lenient = start_tls(&cert.flags(), &["--tls12"]);
    let out = health_over_https(&lenient, &pki, &["--tls-max", "1.2", "-v"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("TLSv1.2"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sni_picks_the_certificate_whose_names_match() {
    let pki = TestPki::new();
    let shop = pki.issue("shop", &["shop.test"], "1C01");
    let agents = pki.issue("agents", &["*.agents.test"], "1C02");
    let mut flags = shop.flags();
    flags.extend(agents.flags());
    let server = start_tls(&flags, &[]);
    let port = server.addr().port();
    for (name, subject) in [
        ("shop.test", "shop.test"),
        ("console.agents.test", "*.agents.test"),
    ] {
        let resolve = format!("{name}:{port}:127.0.0.1");
        let url = format!("https://{name}:{port}/health");
        // curl checks the name against the certificate it was given.
        let out = curl(&pki.ca(), &["-v", "--resolve", &resolve, &url]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let verbose = text(&out.stderr);
        assert!(
            verbose.contains(&format!("subject: CN={subject}")),
            "{verbose}"
        );
    }
    // No name, or an unknown one: the first pair (curl then fails its name check).
    let url = format!("https://127.0.0.1:{port}/health");
    assert!(curl(&pki.ca(), &[&url]).status.success());
}

#[test]
fn a_certificate_without_its_key_or_an_unreadable_one_stops_the_start() {
    let pki = TestPki::new();
    let cert = pki.issue("server", &["localhost"], "1A06");
    let cert_path = cert.cert.display().to_string();
    let err = Server::try_start(&["--tls-cert", &cert_path]).expect_err("started without key");
    assert!(format!("{err:#}").contains("--tls-key"), "{err:#}");
    let key_path = cert.key.display().to_string();
    let err = Server::try_start(&["--tls-key", &key_path]).expect_err("started without cert");
    assert!(format!("{err:#}").contains("--tls-cert"), "{err:#}");
    let bogus = pki.dir().join("bogus.pem");
    std::fs::write(&bogus, "nothing here").unwrap();
    let bogus = bogus.display().to_string();
    let err = Server::try_start(&["--tls-cert", &bogus, "--tls-key", &key_path])
        .expect_err("started with a bogus certificate");
    assert!(format!("{err:#}").contains("bogus.pem"), "{err:#}");
    // A key that is not the certificate's.
    let other = pki.issue("other", &["localhost"], "1A07");
    let other_key = other.key.display().to_string();
    let err = Server::try_start(&["--tls-cert", &cert_path, "--tls-key", &other_key])
        .expect_err("started with a mismatched key");
    assert!(format!("{err:#}").contains("usable"), "{err:#}");
}

#[test]
fn a_client_that_never_finishes_its_handshake_is_closed_at_the_handshake_timeout() {
    let pki = TestPki::new();
    let cert = pki.issue("server", &["localhost"], "1A09");
    let server = start_tls(&cert.flags(), &["--handshake-timeout-ms", "300"]);
    let started = std::time::Instant::now();
    let mut silent = tcp_connect(server.addr());
    // Half a ClientHello record header, then nothing.
    silent.write_all(&[0x16, 0x03]).unwrap();
    silent.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut answer = Vec::new();
    match silent.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("not closed: {e}"),
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "closed only after {:?}",
        started.elapsed()
    );
    // Nothing in plain text leaked out of a connection without keys.
    assert!(!text(&answer).contains("HTTP/1.1"), "{answer:?}");
    assert_eq!(server.health_over(&pki)["status"], "ok");
}

#[test]
fn sighup_without_tls_only_logs_and_the_node_goes_on() {
    let mut server = Server::start(&["--shards", "1"]);
    server.signal(libc::SIGHUP);
    let logged = wait_for(IO_TIMEOUT, || {
        server
            .stderr_so_far()
            .contains("nothing to reload")
            .then_some(())
    });
    assert!(logged.is_some(), "{}", server.stderr_so_far());
    assert_eq!(server.health()["status"], "ok");
}

/// Session tickets (for resumption) are sent by default, and `--tls-tickets 0` turns
/// them off; curl reports each ticket it receives.
#[test]
fn tickets_are_sent_by_default() {
    let pki = TestPki::new();
    let cert = pki.issue("server", &["localhost"], "1A77");
    let flags = cert.flags();
    let tickets_seen = |extra: &[&str]| {
        let mut args: Vec<&str> = vec!["--shards", "1"];
        args.extend(flags.iter().map(String::as_str));
        args.extend(extra);
        let server = Server::start(&args);
        let out = health_over_https(&server, &pki, &["-v"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stderr).matches("Newsession Ticket").count()
    };
    assert_eq!(tickets_seen(&[]), 2, "two TLS 1.3 tickets by default");
    assert_eq!(tickets_seen(&["--tls-tickets", "0"]), 0);
}
