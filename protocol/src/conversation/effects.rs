//! A fixed-capacity list of effects, so that a step allocates nothing of its own (a
//! message, the hot path, yields exactly one effect and copies no string).

use std::iter::Flatten;

use super::Effect;

/// The most effects one step produces (a transfer failing back to the queue: withdraw
/// the offer, two announcements, enqueue).
pub const MAX_EFFECTS: usize = 4;

/// The effects of one step, in the order the engine must carry them out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Filled from the front; the first `None` ends the list.
    slots: [Option<Effect>; MAX_EFFECTS],
}

impl Effects {
    /// No effects.
    pub fn new() -> Effects {
        Effects::default()
    }

    /// Appends an effect.
    ///
    /// # Panics
    /// Past [`MAX_EFFECTS`]: no transition produces that many (property-tested).
    pub(crate) fn push(&mut self, effect: Effect) {
        match self.slots.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(effect),
            None => panic!("more than {MAX_EFFECTS} effects in one conversation step"),
        }
    }

    /// How many effects there are.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots[0].is_none()
    }

    /// The effects in order.
    pub fn iter(&self) -> Flatten<std::slice::Iter<'_, Option<Effect>>> {
        self.slots.iter().flatten()
    }

    /// Whether `effect` is among them.
    pub fn contains(&self, effect: &Effect) -> bool {
        self.iter().any(|e| e == effect)
    }
}

impl IntoIterator for Effects {
    type Item = Effect;
    type IntoIter = Flatten<std::array::IntoIter<Option<Effect>, MAX_EFFECTS>>;

    fn into_iter(self) -> Self::IntoIter {
        self.slots.into_iter().flatten()
    }
}

impl<'a> IntoIterator for &'a Effects {
    type Item = &'a Effect;
    type IntoIter = Flatten<std::slice::Iter<'a, Option<Effect>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
