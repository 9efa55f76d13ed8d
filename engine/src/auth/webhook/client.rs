//! The worker threads that call the webhook: a bounded queue of calls (full: the
//! caller answers 503 at once), `workers` threads each holding a keep-alive HTTP
//! agent, and counters for `/metrics`. The shards never wait on any of it.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam::channel::{self, Receiver, Sender, TrySendError};

use super::answer::{read_answer, Verdict, MAX_ANSWER_BYTES};
use super::WebhookOptions;

/// Where an answer goes: (asking shard, credential key, verdict).
pub type Deliver = Arc<dyn Fn(usize, Box<str>, Verdict) + Send + Sync>;

/// Counters of the webhook, rendered into `/metrics`.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Calls answered with an identity.
    pub known: AtomicU64,
    /// Calls answered with a refusal.
    pub refused: AtomicU64,
    /// Calls that failed: timeout, connection error, bad status or answer.
    pub failed: AtomicU64,
    /// Calls not made because the queue was full.
    pub queue_full: AtomicU64,
    /// Sum of call durations, µs.
    pub latency_sum_us: AtomicU64,
}

impl WebhookStats {
    /// The counters in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP switchboard_auth_webhook_calls_total Connect webhook calls, by outcome.\n# TYPE switchboard_auth_webhook_calls_total counter"
        );
        for (result, counter) in [
            ("known", &self.known),
            ("refused", &self.refused),
            ("failed", &self.failed),
            ("queue_full", &self.queue_full),
        ] {
            let _ = writeln!(
                out,
                "switchboard_auth_webhook_calls_total{{result=\"{result}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP switchboard_auth_webhook_latency_us_sum Time spent in connect webhook calls, µs.\n# TYPE switchboard_auth_webhook_latency_us_sum counter\nswitchboard_auth_webhook_latency_us_sum {}",
            self.latency_sum_us.load(Ordering::Relaxed)
        );
        out
    }
}

struct Job {
    shard: usize,
    key: Box<str>,
    body: Vec<u8>,
}

/// The handle shards ask through.
pub struct WebhookClient {
    jobs: Sender<Job>,
    stats: Arc<WebhookStats>,
    options: WebhookOptions,
}

impl std::fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookClient")
            .field("url", &self.options.url)
            .finish_non_exhaustive()
    }
}

impl WebhookClient {
    /// Starts the workers; answers are handed to `deliver`. The workers end when the
    /// last handle is dropped.
    pub fn start(options: WebhookOptions, deliver: Deliver) -> std::io::Result<Arc<WebhookClient>> {
        let (jobs, queue) = channel::bounded(options.queue.max(1));
        let stats = Arc::new(WebhookStats::default());
        for n in 0..options.workers.max(1) {
            let (queue, stats, deliver, options) = (
                queue.clone(),
                Arc::clone(&stats),
                Arc::clone(&deliver),
                options.clone(),
            );
            std::thread::Builder::new()
                .name(format!("auth-webhook-{n}"))
                .spawn(move || work(&queue, &stats, &*deliver, &options))?;
        }
        Ok(Arc::new(WebhookClient {
            jobs,
            stats,
            options,
        }))
    }

    /// Queues a call with `body` for the credential `key` on behalf of `shard`; false
    /// when the queue is full (counted).
    pub fn ask(&self, shard: usize, key: Box<str>, body: Vec<u8>) -> bool {
        match self.jobs.try_send(Job { shard, key, body }) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.queue_full.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<WebhookStats> {
        &self.stats
    }

    /// The options it runs with.
    pub fn options(&self) -> &WebhookOptions {
        &self.options
    }
}

fn work(
    queue: &Receiver<Job>,
    stats: &WebhookStats,
    deliver: &(dyn Fn(usize, Box<str>, Verdict) + Send + Sync),
    options: &WebhookOptions,
) {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(options.timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build();
    let agent = ureq::Agent::new_with_config(config);
    while let Ok(job) = queue.recv() {
        let started = Instant::now();
        let verdict = call(&agent, &options.url, &job.body);
        let counter = match &verdict {
            Verdict::Known(..) => &stats.known,
            Verdict::Refused(_) => &stats.refused,
            Verdict::Unavailable(why) => {
                tracing::warn!(url = %options.url, %why, "auth webhook call failed");
                &stats.failed
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        stats
            .latency_sum_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        deliver(job.shard, job.key, verdict);
    }
}

fn call(agent: &ureq::Agent, url: &str, body: &[u8]) -> Verdict {
    let sent = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body);
    let mut response = match sent {
        Ok(response) => response,
        Err(err) => return Verdict::Unavailable(format!("auth back end unreachable: {err}")),
    };
    let status = response.status().as_u16();
    match response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_vec()
    {
        Ok(bytes) => read_answer(status, &bytes),
        Err(err) => Verdict::Unavailable(format!("reading the auth back end's answer: {err}")),
    }
}
