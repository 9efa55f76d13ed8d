//! Per-connection accounting of echo replies by sequence number: in order, late (after
//! a later one), duplicate, or never sent; what is never answered is lost.

/// Gaps remembered per connection to tell a late reply from a duplicate; beyond it a
/// late reply counts as a duplicate (a server that far off is broken either way).
pub const MAX_GAPS: usize = 4096;

/// How one reply was booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Booking {
    /// The next one expected.
    InOrder,
    /// First answer to its message, but not in sending order.
    OutOfOrder,
    /// Its message had been answered already.
    Duplicate,
    /// No message with that sequence was sent.
    NeverSent,
}

/// The replies of one connection so far.
#[derive(Debug, Clone, Default)]
pub struct ReplyOrder {
    next: u64,
    gaps: Vec<u64>,
    unique: u64,
}

impl ReplyOrder {
    /// Books the reply `seq` when `sent` messages (0..sent) have been sent.
    pub fn book(&mut self, seq: u64, sent: u64) -> Booking {
        if seq >= sent {
            return Booking::NeverSent;
        }
        let booking = if seq == self.next {
            self.next += 1;
            Booking::InOrder
        } else if seq > self.next {
            let room = MAX_GAPS.saturating_sub(self.gaps.len()) as u64;
            self.gaps.extend(self.next..seq.min(self.next + room));
            self.next = seq + 1;
            Booking::OutOfOrder
        } else if let Some(at) = self.gaps.iter().position(|&g| g == seq) {
            self.gaps.swap_remove(at);
            Booking::OutOfOrder
        } else {
            return Booking::Duplicate;
        };
        self.unique += 1;
        booking
    }

    /// Distinct messages answered.
    pub fn unique(&self) -> u64 {
        self.unique
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn replies_are_in_order_late_duplicate_or_never_sent() {
        let mut order = ReplyOrder::default();
        assert_eq!(order.book(0, 5), Booking::InOrder);
        assert_eq!(order.book(2, 5), Booking::OutOfOrder);
        assert_eq!(order.book(1, 5), Booking::OutOfOrder);
        assert_eq!(order.book(1, 5), Booking::Duplicate);
        assert_eq!(order.book(3, 5), Booking::InOrder);
        assert_eq!(order.book(5, 5), Booking::NeverSent);
        assert_eq!(order.unique(), 4);
    }

    proptest! {
        #[test]
        fn unique_counts_each_sent_message_once(replies in prop::collection::vec(0..40u64, 0..200)) {
            let mut order = ReplyOrder::default();
            let mut seen = std::collections::BTreeSet::new();
            for &seq in &replies {
                let booking = order.book(seq, 32);
                let first = seq < 32 && seen.insert(seq);
                prop_assert_eq!(first, matches!(booking, Booking::InOrder | Booking::OutOfOrder));
            }
            prop_assert_eq!(order.unique(), seen.len() as u64);
        }
    }
}
