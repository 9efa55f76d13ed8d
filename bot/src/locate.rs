//! Finding the line and column of a node of the rules document from its path.
//!
//! serde_yaml gives positions for syntax errors but none for the values it hands out.
//! Semantic checks therefore record a path (`intents[2].reply.text.en`), and only when a
//! check fails do we re-read the document with a probe that walks to that path and fails
//! there on purpose: serde_yaml stamps the error with the position of the node being
//! read, which is the node we want. Valid files never pay for it.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt::{self, Write as _};

use crate::error::Location;

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A key of a mapping.
    Key(String),
    /// An element of a sequence.
    Index(usize),
}

/// A path into the document, built up while checking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DocPath(Vec<Step>);

impl DocPath {
    /// This path with a key appended.
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut steps = self.0.clone();
        steps.push(Step::Key(key.to_owned()));
        Self(steps)
    }

    /// This path with a sequence index appended.
    pub(crate) fn index(&self, index: usize) -> Self {
        let mut steps = self.0.clone();
        steps.push(Step::Index(index));
        Self(steps)
    }

    /// The path the way a person reads it: `intents[2].reply`.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for step in &self.0 {
            match step {
                Step::Key(k) if out.is_empty() => out.push_str(k),
                Step::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Step::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        if out.is_empty() {
            out.push_str("(document)");
        }
        out
    }

    /// The position of the node at this path or, when it is not in the file (a key
    /// left to its default), of the nearest ancestor that is.
    pub(crate) fn locate_nearest(&self, yaml: &str) -> Option<Location> {
        (0..=self.0.len())
            .rev()
            .find_map(|len| DocPath(self.0[..len].to_vec()).locate(yaml))
    }

    /// The position of the node at this path in `yaml`, if it is there.
    pub(crate) fn locate(&self, yaml: &str) -> Option<Location> {
        let deserializer = serde_yaml::Deserializer::from_str(yaml);
        let err = Probe(&self.0).deserialize(deserializer).err()?;
        // Only our own marker error means the path was reached.
        if !err.to_string().contains(MARKER) {
            return None;
        }
        err.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        })
    }
}

const MARKER: &str = "\u{1}probe-reached\u{1}";

struct Probe<'a>(&'a [Step]);

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.0.is_empty() {
            d.deserialize_any(Reached)
        } else {
            d.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a sequence")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            let wanted = matches!(&self.0[0], Step::Key(k) if key.as_str() == Some(k.as_str()));
            if wanted {
                map.next_value_seed(Probe(&self.0[1..]))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let more = if self.0[0] == Step::Index(index) {
                seq.next_element_seed(Probe(&self.0[1..]))?.is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    // A scalar where the path wants to go deeper: the path is not in the document.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Fails on whatever node it is given, so the error carries that node's position.
struct Reached;

impl<'de> Visitor<'de> for Reached {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any node")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(MARKER))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(MARKER))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(MARKER))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(MARKER))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(MARKER))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(MARKER))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(MARKER))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(MARKER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str =
        "a: 1\nintents:\n  - name: x\n    patterns:\n      - 'ok'\n      - '(bad'\n  - name: y\n";

    #[test]
    fn finds_a_scalar_in_a_sequence() {
        let path = DocPath::default()
            .key("intents")
            .index(0)
            .key("patterns")
            .index(1);
        assert_eq!(path.locate(DOC), Some(Location { line: 6, column: 9 }));
        assert_eq!(path.render(), "intents[0].patterns[1]");
    }

    #[test]
    fn finds_a_mapping() {
        let path = DocPath::default().key("intents").index(1);
        assert_eq!(path.locate(DOC), Some(Location { line: 7, column: 5 }));
    }

    #[test]
    fn a_path_that_is_not_there_has_no_location() {
        let path = DocPath::default().key("intents").index(7);
        assert_eq!(path.locate(DOC), None);
        let deeper = DocPath::default().key("a").key("b");
        assert_eq!(deeper.locate(DOC), None);
        assert_eq!(
            deeper.locate_nearest(DOC),
            Some(Location { line: 1, column: 4 })
        );
        assert_eq!(DocPath::default().key("x").locate("- [unclosed"), None);
    }
}
