//! TLS of the public listener (`--tls-cert`, `--tls-key`): the rustls server
//! configuration every shard shares, and the certificates it presents.
//!
//! The certificates sit in a [`CertStore`] that the configuration asks for a key at each
//! handshake. A reload (SIGHUP) reads every file again off the shards, on the node's
//! signal thread, and swaps the whole set at once: new handshakes get the new
//! certificates, established connections keep the keys they negotiated, and a file
//! that does not load leaves the old set in place.
//!
//! Several `--tls-cert`/`--tls-key` pairs are chosen by SNI: the first certificate whose
//! names (checked as a client would, wildcards included) cover the requested name, else
//! the first pair.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// The one application protocol spoken after the handshake (WebSocket upgrades and
/// plain HTTP requests are both HTTP/1.1).
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// One certificate chain and its key, as files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The certificates the listener presents, swappable while it runs.
#[derive(Debug)]
pub struct CertStore {
    files: Vec<CertFiles>,
    provider: Arc<CryptoProvider>,
    keys: ArcSwap<Vec<Arc<CertifiedKey>>>,
}

impl CertStore {
    /// Loads every pair; any failure is an error (at start-up the node does not start).
    pub fn load(files: Vec<CertFiles>, provider: Arc<CryptoProvider>) -> anyhow::Result<Self> {
        anyhow::ensure!(!files.is_empty(), "no certificate given");
        let keys = load_all(&files, &provider)?;
        Ok(CertStore {
            files,
            provider,
            keys: ArcSwap::from_pointee(keys),
        })
    }

    /// Reads the files again and, when all of them load, presents them from the next
    /// handshake on; on failure the certificates in use stay and the error says why.
    pub fn reload(&self) -> anyhow::Result<usize> {
        let keys = load_all(&self.files, &self.provider)?;
        let count = keys.len();
        self.keys.store(Arc::new(keys));
        Ok(count)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let keys = self.keys.load();
        let wanted = hello
            .server_name()
            .and_then(|name| ServerName::try_from(name).ok());
        let chosen = match (&wanted, keys.len()) {
            (Some(name), 2..) => keys.iter().find(|key| covers(key, name)),
            _ => None,
        };
        chosen.or_else(|| keys.first()).cloned()
    }
}

/// Whether the leaf certificate of `key` is valid for `name`.
fn covers(key: &CertifiedKey, name: &ServerName<'_>) -> bool {
    key.cert
        .first()
        .and_then(|leaf| webpki::EndEntityCert::try_from(leaf).ok())
        .is_some_and(|leaf| leaf.verify_is_valid_for_subject_name(name).is_ok())
}

fn load_all(
    files: &[CertFiles],
    provider: &CryptoProvider,
) -> anyhow::Result<Vec<Arc<CertifiedKey>>> {
    files
        .iter()
        .map(|pair| load_pair(pair, provider).map(Arc::new))
        .collect()
}

fn load_pair(pair: &CertFiles, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(&pair.cert)
        .with_context(|| format!("reading {}", pair.cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing the PEM certificates of {}", pair.cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no PEM certificate",
        pair.cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(&pair.key)
        .with_context(|| format!("reading a PEM private key from {}", pair.key.display()))?;
    CertifiedKey::from_der(chain, key, provider).with_context(|| {
        format!(
            "{} and {} do not make a usable certificate and key",
            pair.cert.display(),
            pair.key.display()
        )
    })
}

/// What the node's TLS is asked for (`--tls12`, `--tls-tickets`).
#[derive(Debug, Clone, Copy)]
pub struct TlsPolicy {
    /// Also accept TLS 1.2.
    pub tls12: bool,
    /// TLS 1.3 session tickets sent after each full handshake (0: no resumption).
    pub tickets: usize,
}

/// The shards' server configuration: TLS 1.3 only unless `tls12`, ALPN `http/1.1`,
/// certificates from `store`.
pub fn server_config(
    store: Arc<CertStore>,
    policy: TlsPolicy,
) -> anyhow::Result<Arc<ServerConfig>> {
    let tls12 = policy.tls12;
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut config = ServerConfig::builder_with_provider(Arc::clone(&store.provider))
        .with_protocol_versions(versions)
        .context("choosing the TLS versions")?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    config.send_tls13_tickets = policy.tickets;
    Ok(Arc::new(config))
}

/// Which of rustls's connection APIs the shards drive (`--tls-api`; docs/design.md
/// has the measurements that chose the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsApi {
    /// `UnbufferedServerConnection`: records decrypted in place in the receive
    /// buffer, no buffer kept by rustls while idle.
    Unbuffered,
    /// `ServerConnection`: rustls's own buffers (a 4 KiB receive buffer per connection).
    Buffered,
}

/// What a shard needs to serve TLS.
#[derive(Debug, Clone)]
pub struct ShardTls {
    /// The server configuration every session is made from.
    pub config: Arc<ServerConfig>,
    /// Which rustls API.
    pub api: TlsApi,
}

/// The TLS of a node: the configuration for the shards and the store to reload.
#[derive(Debug, Clone)]
pub struct NodeTls {
    /// What every shard builds its connections from.
    pub shard: ShardTls,
    /// The certificates, for SIGHUP.
    pub store: Arc<CertStore>,
}

impl NodeTls {
    /// Loads the certificates and builds the configuration (`ring` provider: no C build).
    pub fn new(files: Vec<CertFiles>, policy: TlsPolicy, api: TlsApi) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let store = Arc::new(CertStore::load(files, provider)?);
        let config = server_config(Arc::clone(&store), policy)?;
        Ok(NodeTls {
            shard: ShardTls { config, api },
            store,
        })
    }

    /// SIGHUP: reload, logging the outcome either way.
    pub fn reload(&self) {
        match self.store.reload() {
            Ok(count) => tracing::info!(certificates = count, "TLS certificates reloaded"),
            Err(err) => tracing::error!(
                "TLS certificates not reloaded, the previous ones stay in use: {err:#}"
            ),
        }
    }
}
