//! Running a [`Job`] with its threads, and the members a run is split into: a thread
//! of this process or a child process (`switchboard-loadgen worker`), both speaking
//! the same three steps — ready (connections open), go, result.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::driver::Driver;
use crate::job::{Job, Scenario};
use crate::report::{new_histogram, Tally, WorkerResult};

/// What a worker says once every connection is open or failed.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Ready {
    /// Connections upgraded.
    pub ok: u64,
    /// Connections that failed.
    pub failed: u64,
}

/// Lets the threads of one worker wait for each other and for the go signal.
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    arrived: usize,
    ready: Ready,
    /// Set once: `Some(start)` to run the scenario, `None` to skip it (the parent
    /// went away before saying go).
    go: Option<Option<Instant>>,
}

impl Gate {
    fn arrive(&self, ok: u64, failed: u64) -> Option<Instant> {
        let mut state = self.state.lock().expect("gate poisoned");
        state.arrived += 1;
        state.ready.ok += ok;
        state.ready.failed += failed;
        self.changed.notify_all();
        loop {
            if let Some(go) = state.go {
                return go;
            }
            state = self.changed.wait(state).expect("gate poisoned");
        }
    }

    fn wait_arrived(&self, threads: usize) -> Ready {
        let mut state = self.state.lock().expect("gate poisoned");
        while state.arrived < threads {
            state = self.changed.wait(state).expect("gate poisoned");
        }
        state.ready
    }

    fn open(&self, go: Option<Instant>) {
        self.state.lock().expect("gate poisoned").go = Some(go);
        self.changed.notify_all();
    }
}

/// Runs `job`: opens its connections over its threads, calls `ready`, waits for
/// `wait_go`, runs the scenario, closes everything and returns the merged result.
pub fn run_job(
    job: &Job,
    ready: &mut dyn FnMut(Ready) -> anyhow::Result<()>,
    wait_go: &mut dyn FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<WorkerResult> {
    crate::driver::epoch();
    let threads = (job.threads.max(1) as u64).min(job.connections.max(1)) as usize;
    let gate = Gate::default();
    let per_thread = job.split(threads as u64);
    let results = std::thread::scope(|scope| -> anyhow::Result<Vec<_>> {
        let handles: Vec<_> = per_thread
            .iter()
            .map(|part| {
                let gate = &gate;
                std::thread::Builder::new()
                    .name("loadgen".into())
                    .spawn_scoped(scope, move || -> anyhow::Result<_> {
                        let mut driver =
                            match Driver::new(job, part.first_connection, part.connections) {
                                Ok(driver) => driver,
                                Err(err) => {
                                    gate.arrive(0, part.connections);
                                    return Err(err).context("creating the event loop");
                                }
                            };
                        driver.connect_all();
                        let (ok, failed) = driver.connected();
                        match (gate.arrive(ok, failed), &job.scenario) {
                            (Some(go), Scenario::Echo(plan)) => driver.run_echo(plan, go),
                            (Some(go), Scenario::Idle { hold }) => driver.hold(go + *hold),
                            (Some(go), Scenario::ChatIdle(plan)) => driver.hold(go + plan.hold),
                            (None, _) => {}
                        }
                        driver.close_all();
                        Ok(driver.into_results())
                    })
                    .expect("spawning a loadgen thread")
            })
            .collect();
        let summary = gate.wait_arrived(threads);
        let control = ready(summary).and_then(|()| wait_go());
        // Release the threads in any case; without a go they only close their sockets.
        gate.open(control.is_ok().then(Instant::now));
        control?;
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a loadgen thread panicked"))?
            })
            .collect()
    })?;
    let mut tally = Tally::default();
    let mut histogram = new_histogram();
    for (t, h) in &results {
        tally.merge(t);
        histogram.add(h).context("merging histograms")?;
    }
    Ok(WorkerResult::new(tally, &histogram))
}

/// The `worker` subcommand: runs `job` and talks to the parent over stdin/stdout.
pub fn worker_main(job: &Job) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout();
    let mut ready = |r: Ready| -> anyhow::Result<()> {
        writeln!(stdout, "ready {}", serde_json::to_string(&r)?)?;
        stdout.flush()?;
        Ok(())
    };
    let mut wait_go = || -> anyhow::Result<()> {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("waiting for go")?;
        if line.trim() != "go" {
            bail!("parent sent {line:?} instead of go");
        }
        Ok(())
    };
    let result = run_job(job, &mut ready, &mut wait_go)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "result {}", serde_json::to_string(&result)?)?;
    stdout.flush()?;
    Ok(())
}

/// One part of a run, as the parent sees it.
#[derive(Debug)]
pub enum Member {
    /// Runs on threads of this process.
    Local {
        /// Readiness from the job.
        ready: mpsc::Receiver<Ready>,
        /// The go signal to the job.
        go: Option<mpsc::Sender<()>>,
        /// The job's thread.
        handle: JoinHandle<anyhow::Result<WorkerResult>>,
    },
    /// A child process running `worker`.
    Child {
        /// The process.
        child: Child,
        /// Its stdin (go).
        stdin: Option<ChildStdin>,
        /// Its stdout (ready, result).
        stdout: BufReader<ChildStdout>,
    },
}

impl Member {
    /// Runs `job` on threads of this process.
    pub fn local(job: Job) -> Self {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel();
        let handle = std::thread::spawn(move || {
            run_job(
                &job,
                &mut |r| {
                    ready_tx
                        .send(r)
                        .map_err(|_| anyhow::anyhow!("coordinator gone"))
                },
                &mut || {
                    go_rx
                        .recv()
                        .map_err(|_| anyhow::anyhow!("coordinator gone"))
                },
            )
        });
        Member::Local {
            ready: ready_rx,
            go: Some(go_tx),
            handle,
        }
    }

    /// Runs `job` in a child process.
    pub fn child(job: &Job) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding our own executable")?;
        let mut child = Command::new(exe)
            .arg("worker")
            .arg("--job")
            .arg(serde_json::to_string(job)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting a worker process")?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().context("worker stdout")?);
        Ok(Member::Child {
            child,
            stdin,
            stdout,
        })
    }

    /// Waits until the member's connections are open.
    pub fn wait_ready(&mut self) -> anyhow::Result<Ready> {
        match self {
            Member::Local { ready, handle, .. } => match ready.recv() {
                Ok(r) => Ok(r),
                Err(_) if handle.is_finished() => {
                    bail!("the load thread stopped before its connections were open")
                }
                Err(_) => bail!("the load thread went away"),
            },
            Member::Child { stdout, .. } => {
                let line = read_tagged_line(stdout, "ready")?;
                Ok(serde_json::from_str(&line)?)
            }
        }
    }

    /// Starts the scenario.
    pub fn go(&mut self) -> anyhow::Result<()> {
        match self {
            Member::Local { go, .. } => go
                .take()
                .context("go sent twice")?
                .send(())
                .map_err(|_| anyhow::anyhow!("load thread gone")),
            Member::Child { stdin, .. } => {
                let mut stdin = stdin.take().context("go sent twice")?;
                stdin.write_all(b"go\n")?;
                stdin.flush()?;
                Ok(())
            }
        }
    }

    /// Waits for the member's result.
    pub fn finish(self) -> anyhow::Result<WorkerResult> {
        match self {
            Member::Local { handle, .. } => handle
                .join()
                .map_err(|_| anyhow::anyhow!("load thread panicked"))?,
            Member::Child {
                mut child,
                mut stdout,
                ..
            } => {
                let line = read_tagged_line(&mut stdout, "result");
                let status = child.wait()?;
                let line = line.with_context(|| format!("worker exited with {status}"))?;
                Ok(serde_json::from_str(&line)?)
            }
        }
    }
}

fn read_tagged_line(reader: &mut impl BufRead, tag: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("worker ended before saying {tag}");
        }
        if let Some(rest) = line.trim_end().strip_prefix(tag) {
            return Ok(rest.trim().to_owned());
        }
    }
}
