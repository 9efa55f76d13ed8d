//! The engine's side in tests: records visitor events and delivery reports.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use switchboard_channels::{ConversationSink, DeliveryReport, SinkBusy, VisitorEvent};

#[derive(Default)]
struct Seen {
    events: Vec<VisitorEvent>,
    reports: Vec<DeliveryReport>,
}

/// A [`ConversationSink`] that keeps everything it is given.
#[derive(Default)]
pub struct RecordingSink {
    seen: Mutex<Seen>,
    changed: Condvar,
    refuse_next: AtomicU32,
    /// Held before answering the first event: makes the endpoint answer late.
    first_delay: Mutex<Option<Duration>>,
}

impl RecordingSink {
    /// Answers the next `n` events with `SinkBusy`.
    pub fn refuse_next(&self, n: u32) {
        self.refuse_next.store(n, Ordering::SeqCst);
    }

    /// Makes the first event wait `delay` before it is taken.
    pub fn delay_first(&self, delay: Duration) {
        *self.first_delay.lock().unwrap() = Some(delay);
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<VisitorEvent> {
        self.seen.lock().unwrap().events.clone()
    }

    /// Every report so far.
    pub fn reports(&self) -> Vec<DeliveryReport> {
        self.seen.lock().unwrap().reports.clone()
    }

    /// Waits until at least `n` events arrived; returns them all.
    pub fn wait_events(&self, n: usize, timeout: Duration) -> Vec<VisitorEvent> {
        self.wait(timeout, |seen| seen.events.len() >= n).events
    }

    /// Waits until at least `n` reports arrived; returns them all.
    pub fn wait_reports(&self, n: usize, timeout: Duration) -> Vec<DeliveryReport> {
        self.wait(timeout, |seen| seen.reports.len() >= n).reports
    }

    fn wait(&self, timeout: Duration, done: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = Instant::now() + timeout;
        let mut seen = self.seen.lock().unwrap();
        while !done(&seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            seen = self.changed.wait_timeout(seen, left).unwrap().0;
        }
        Seen {
            events: seen.events.clone(),
            reports: seen.reports.clone(),
        }
    }
}

impl ConversationSink for RecordingSink {
    fn visitor_event(&self, event: VisitorEvent) -> Result<(), SinkBusy> {
        if let Some(delay) = self.first_delay.lock().unwrap().take() {
            std::thread::sleep(delay);
        }
        let refused = self
            .refuse_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refused {
            return Err(SinkBusy);
        }
        self.seen.lock().unwrap().events.push(event);
        self.changed.notify_all();
        Ok(())
    }

    fn delivery_report(&self, report: DeliveryReport) {
        self.seen.lock().unwrap().reports.push(report);
        self.changed.notify_all();
    }
}
