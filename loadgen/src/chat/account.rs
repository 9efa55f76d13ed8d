//! The bookkeeping of one stream of numbered messages (one direction of one
//! conversation, or the acks of it): what arrived in order, late, twice, or never.

/// Counters skipped and remembered per stream, so a late arrival is told from a
/// duplicate. Beyond it a skip is still counted lost, and a very late one duplicated.
const MAX_MISSING: u64 = 4096;

/// How an arrival was booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next one expected, or one after a skip (the skipped ones may come late).
    InOrder,
    /// One that was skipped earlier: it came after a later one.
    Late,
    /// One that had already arrived.
    Duplicate,
    /// A counter that was never sent.
    Unknown,
}

/// Arrivals of counters 0, 1, 2, … sent in that order.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// One past the highest counter arrived.
    next: u64,
    /// Counters below `next` that have not arrived (yet).
    missing: Vec<u64>,
    /// Distinct counters arrived.
    pub unique: u64,
}

impl Tracker {
    /// Whether counter `counter` arrived (exact for skips remembered; beyond
    /// `MAX_MISSING` a forgotten skip reads as arrived).
    pub fn has(&self, counter: u64) -> bool {
        counter < self.next && !self.missing.contains(&counter)
    }

    /// Books counter `counter` of a stream of which `sent` were sent.
    pub fn arrive(&mut self, counter: u64, sent: u64) -> Arrival {
        if counter >= sent {
            return Arrival::Unknown;
        }
        if counter >= self.next {
            if counter - self.next <= MAX_MISSING {
                self.missing.extend(self.next..counter);
            }
            self.next = counter + 1;
        } else if let Some(pos) = self.missing.iter().position(|&c| c == counter) {
            self.missing.swap_remove(pos);
            self.unique += 1;
            return Arrival::Late;
        } else {
            return Arrival::Duplicate;
        }
        self.unique += 1;
        Arrival::InOrder
    }
}

/// One direction of one conversation: sent, delivered, acked.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// Messages sent (the next counter).
    pub sent: u64,
    /// Their arrivals at the other side.
    pub delivered: Tracker,
    /// Their `sent` acks at the sender.
    pub acked: Tracker,
}

impl Stream {
    /// Sent and not (yet) delivered.
    pub fn undelivered(&self) -> u64 {
        self.sent - self.delivered.unique
    }

    /// Sent and not (yet) acked.
    pub fn unacked(&self) -> u64 {
        self.sent - self.acked.unique
    }

    /// Acked and never delivered: the one loss a refusal cannot explain.
    pub fn acked_undelivered(&self) -> u64 {
        (0..self.sent)
            .filter(|&c| self.acked.has(c) && !self.delivered.has(c))
            .count() as u64
    }
}

/// What one side of a conversation has seen of its ordered channel.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqView {
    /// Highest `seq` of a `message` or `system` item seen (0: none).
    pub last: u64,
}

impl SeqView {
    /// Books an ordered item; false when its seq is not above every one seen before.
    pub fn item(&mut self, seq: u64) -> bool {
        if seq > self.last {
            self.last = seq;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_are_booked_in_order_late_duplicate_or_unknown() {
        let mut t = Tracker::default();
        assert_eq!(t.arrive(0, 10), Arrival::InOrder);
        assert_eq!(t.arrive(2, 10), Arrival::InOrder); // 1 skipped: not an error yet
        assert_eq!(t.arrive(1, 10), Arrival::Late);
        assert_eq!(t.arrive(1, 10), Arrival::Duplicate);
        assert_eq!(t.arrive(2, 10), Arrival::Duplicate);
        assert_eq!(t.arrive(10, 10), Arrival::Unknown);
        assert_eq!(t.arrive(4, 10), Arrival::InOrder); // 3 skipped and never comes
        assert_eq!(t.unique, 4);
        let stream = Stream {
            sent: 5,
            delivered: t,
            acked: Tracker::default(),
        };
        assert_eq!(stream.undelivered(), 1);
        assert_eq!(stream.unacked(), 5);
    }

    #[test]
    fn an_ordered_view_only_moves_forward() {
        let mut v = SeqView::default();
        assert!(v.item(1));
        assert!(v.item(3));
        assert!(!v.item(2));
        assert!(!v.item(3));
        assert_eq!(v.last, 3);
    }
}
