//! The raw client socket of the black-box tests: plain TCP, or TLS when the suite runs
//! over `wss://` (`SWITCHBOARD_TESTS_TLS=1`: every [`crate::Server`] then gets a
//! certificate from one test CA, and [`crate::RawWs`] speaks TLS with rustls — a
//! client stack the engine's TLS shares nothing with but the library).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::tls::{Issued, TestPki};

/// Whether this test process runs its suite over TLS.
pub fn tls_mode() -> bool {
    std::env::var("SWITCHBOARD_TESTS_TLS").is_ok_and(|v| v == "1")
}

struct SuitePki {
    /// Kept for the life of the process: its directory holds the server's files.
    _pki: TestPki,
    server: Issued,
    client: Arc<rustls::ClientConfig>,
}

fn suite_pki() -> &'static SuitePki {
    static PKI: OnceLock<SuitePki> = OnceLock::new();
    PKI.get_or_init(|| {
        let pki = TestPki::new();
        let server = pki.issue("suite", &["localhost"], "51");
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(pki.ca()).expect("read the test CA");
        for cert in pem_certificates(&pem) {
            roots.add(cert).expect("add the test CA");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        SuitePki {
            _pki: pki,
            server,
            client: Arc::new(client),
        }
    })
}

fn pem_certificates(pem: &[u8]) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .expect("PEM certificates")
}

/// `--tls-cert`/`--tls-key` for a server of a TLS suite run.
pub fn suite_tls_flags() -> Vec<String> {
    suite_pki().server.flags()
}

/// A connected client socket.
#[derive(Debug)]
pub enum TestStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (rustls client).
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl TestStream {
    /// `tcp` as is, or wrapped in TLS when the suite runs over TLS (the handshake
    /// happens with the first write/read).
    pub fn over(tcp: TcpStream) -> TestStream {
        if !tls_mode() {
            return TestStream::Plain(tcp);
        }
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(Arc::clone(&suite_pki().client), name)
            .expect("TLS client");
        TestStream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
    }

    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            TestStream::Plain(tcp) => tcp,
            TestStream::Tls(tls) => &tls.sock,
        }
    }

    /// Read timeout of the socket underneath.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    /// Non-blocking mode of the socket underneath.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.tcp().set_nonblocking(on)
    }

    /// Ends the write side: TLS sends `close_notify` first.
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        if let TestStream::Tls(tls) = self {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        self.tcp().shutdown(how)
    }
}

impl Read for TestStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            TestStream::Plain(tcp) => tcp.read(buf),
            // A peer that closes TCP without close_notify after its WebSocket close is
            // read as the end of the stream, as on plain TCP.
            TestStream::Tls(tls) => match tls.read(buf) {
                Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
}

impl Write for TestStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            TestStream::Plain(tcp) => tcp.write(buf),
            TestStream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            TestStream::Plain(tcp) => tcp.flush(),
            TestStream::Tls(tls) => tls.flush(),
        }
    }
}

impl std::os::fd::AsRawFd for TestStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.tcp().as_raw_fd()
    }
}

/// A socket whose read timeout can be set (plain or TLS).
pub trait TimedRead: Read {
    /// Sets the read timeout.
    fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl TimedRead for TcpStream {
    fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(timeout)
    }
}

impl TimedRead for TestStream {
    fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(timeout)
    }
}
