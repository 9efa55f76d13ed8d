//! TLS test fixtures: a throw-away certificate authority made with the `openssl`
//! command line in a temporary directory, server certificates it signs, and the
//! clients written by others that talk to a TLS listener (curl, Python `websockets`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A test CA and the certificates it issued, in a directory removed on drop.
#[derive(Debug)]
pub struct TestPki {
    dir: PathBuf,
}

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate (leaf, then the CA: a chain).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The serial number, as hex (the way Python's `getpeercert` and openssl print it).
    pub serial: String,
}

impl Issued {
    /// `--tls-cert CERT --tls-key KEY`.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }
}

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

impl TestPki {
    /// A new CA (P-256, valid two days).
    pub fn new() -> TestPki {
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sb-tls-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let pki = TestPki { dir };
        pki.new_key_request(
            "ca.key",
            &["-x509", "-out", "ca.pem", "-days", "2"],
            "/CN=Switchboard Test CA",
        );
        pki
    }

    /// The CA certificate clients trust.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `openssl req` with a new P-256 key saved as `key` (unencrypted): a request, or
    /// with `-x509` among `args` a self-signed certificate.
    fn new_key_request(&self, key: &str, args: &[&str], subject: &str) {
        let mut all = vec![
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key,
            "-subj",
            subject,
        ];
        all.extend_from_slice(args);
        self.openssl(&all);
    }

    /// Issues a server certificate for `names` (DNS names; 127.0.0.1 is always in it)
    /// with serial `serial` (hex), saved as `<file>.pem` / `<file>.key`.
    pub fn issue(&self, file: &str, names: &[&str], serial: &str) -> Issued {
        let key = format!("{file}.key");
        let csr = format!("{file}.csr");
        let leaf = format!("{file}.leaf.pem");
        let ext = format!("{file}.ext");
        let mut san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        san.push("IP:127.0.0.1".into());
        std::fs::write(
            self.dir.join(&ext),
            format!("subjectAltName={}\n", san.join(",")),
        )
        .expect("write ext");
        let subject = format!("/CN={}", names.first().copied().unwrap_or("localhost"));
        self.new_key_request(&key, &["-out", &csr], &subject);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &format!("0x{serial}"),
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &leaf,
        ]);
        let chain = [
            std::fs::read(self.dir.join(&leaf)).expect("leaf"),
            std::fs::read(self.ca()).expect("ca"),
        ]
        .concat();
        let cert = self.dir.join(format!("{file}.pem"));
        std::fs::write(&cert, chain).expect("write chain");
        Issued {
            cert,
            key: self.dir.join(key),
            serial: serial.to_uppercase(),
        }
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("the openssl command line (Debian package openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            text(&out.stderr)
        );
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `curl` with the test CA and a 10 s limit, plus `args`.
pub fn curl(ca: &Path, args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(args)
        .output()
        .expect("curl")
}

/// Lossy UTF-8 of a process's output.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A Python interpreter with the `websockets` package: `SWITCHBOARD_PYTHON`, else the
/// virtualenv tests/run-all makes (`<target>/py-venv`), else `python3` if it has it.
pub fn python_with_websockets() -> PathBuf {
    if let Some(python) = std::env::var_os("SWITCHBOARD_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = crate::binary_path()
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join("py-venv/bin/python"));
    let candidates = venv.into_iter().chain([PathBuf::from("python3")]);
    for python in candidates {
        let has = Command::new(&python)
            .args(["-c", "import websockets"])
            .output()
            .is_ok_and(|out| out.status.success());
        if has {
            return python;
        }
    }
    panic!("no Python with `websockets`: run tests/run-all's venv step, or set SWITCHBOARD_PYTHON");
}

/// tests/python/wss_client.py, the Python `websockets` client of the TLS tests.
pub fn wss_client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/wss_client.py")
}
