//! Forms: fields the bot asks for, one at a time, each validated and extracted from
//! the visitor's free text ("it's SO12345678" gives `SO12345678`), with a bounded
//! number of attempts and words that cancel.

use regex::Regex;

use crate::text::normalize;

/// A compiled text per language (see [`crate::rules::LocalText`]).
pub(crate) use crate::rules::LocalText;

/// How a field's value is recognised.
#[derive(Debug, Clone)]
pub(crate) enum FieldCheck {
    /// The first match of the regex (its group `value` or group 1 if it has one).
    Pattern(Regex),
    /// 7 to 15 digits, with an optional `+`, spaces, dashes and brackets removed.
    Phone(Regex),
    /// Something shaped like an e-mail address.
    Email(Regex),
    /// Any non-empty text.
    Text,
}

const PHONE_SHAPE: &str = r"\+?[0-9][0-9 ()\-]{5,22}[0-9]";
const EMAIL_SHAPE: &str = r"[^\s@<>]{1,64}@[^\s@<>]{1,255}\.[A-Za-z]{2,24}";
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 7..=15;

impl FieldCheck {
    pub(crate) fn phone() -> Result<Self, regex::Error> {
        Regex::new(PHONE_SHAPE).map(Self::Phone)
    }

    pub(crate) fn email() -> Result<Self, regex::Error> {
        Regex::new(EMAIL_SHAPE).map(Self::Email)
    }
}

/// One field of a form.
#[derive(Debug, Clone)]
pub(crate) struct FieldSpec {
    pub name: String,
    pub check: FieldCheck,
    pub prompt: LocalText,
    pub retry: Option<LocalText>,
    pub max_chars: usize,
}

impl FieldSpec {
    /// The field's value in `line`, if the line has one.
    pub(crate) fn extract(&self, line: &str) -> Option<String> {
        let line = line.trim();
        let value = match &self.check {
            FieldCheck::Pattern(re) => re.captures(line).map(|c| {
                c.name("value")
                    .or_else(|| c.get(1))
                    .or_else(|| c.get(0))
                    .map_or("", |m| m.as_str())
                    .to_owned()
            })?,
            FieldCheck::Phone(re) => re.find_iter(line).find_map(|m| phone_number(m.as_str()))?,
            FieldCheck::Email(re) => re.find(line)?.as_str().to_owned(),
            FieldCheck::Text => line.to_owned(),
        };
        let clean: String = value.chars().filter(|c| !c.is_control()).collect();
        let clean = clean.trim();
        let fits = !clean.is_empty() && clean.chars().count() <= self.max_chars;
        fits.then(|| clean.to_owned())
    }
}

fn phone_number(candidate: &str) -> Option<String> {
    let plus = candidate.starts_with('+');
    let digits: String = candidate.chars().filter(char::is_ascii_digit).collect();
    PHONE_DIGITS
        .contains(&digits.len())
        .then(|| if plus { format!("+{digits}") } else { digits })
}

/// What a form does when the visitor cancels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnCancel {
    /// Hand the conversation to a human (reason `form_cancel`).
    Handoff,
    /// Say the cancel reply and go back to answering questions.
    Resume,
}

/// A form: its fields in order, its cancel words and attempt limit.
#[derive(Debug, Clone)]
pub(crate) struct FormSpec {
    pub fields: Vec<FieldSpec>,
    /// Normalized cancel words; a line cancels when, normalized, it is one of them or
    /// contains one as a whole word (or, for Chinese, anywhere).
    pub cancel_words: Vec<String>,
    pub max_attempts: u32,
    pub on_cancel: OnCancel,
    pub cancel_reply: Option<LocalText>,
}

impl FormSpec {
    /// Whether `line` cancels the form.
    pub(crate) fn is_cancel(&self, line: &str) -> bool {
        let text = normalize(line);
        self.cancel_words.iter().any(|w| contains_word(&text, w))
    }

    /// The index of the first field not yet in `have`.
    pub(crate) fn next_missing(&self, have: &dyn Fn(&str) -> bool) -> Option<usize> {
        self.fields.iter().position(|f| !have(&f.name))
    }
}

/// Whether `word` is in `text` on word boundaries (Latin) or anywhere (Han).
pub(crate) fn contains_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let latin = |c: char| c.is_alphanumeric() && !crate::text::is_han(c);
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let start_ok = !word.chars().next().is_some_and(latin) || !before.is_some_and(latin);
        let end_ok = !word.chars().last().is_some_and(latin) || !after.is_some_and(latin);
        start_ok && end_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(check: FieldCheck) -> FieldSpec {
        FieldSpec {
            name: "f".into(),
            check,
            prompt: LocalText::default(),
            retry: None,
            max_chars: 40,
        }
    }

    #[test]
    fn pattern_fields_extract_from_free_text() {
        let f = field(FieldCheck::Pattern(
            Regex::new(r"(?i)\b(SO\d{8})\b").unwrap_or_else(|e| panic!("{e}")),
        ));
        assert_eq!(
            f.extract("it's so12345678, thanks"),
            Some("so12345678".into())
        );
        assert_eq!(
            f.extract("订单号SO12345678"),
            None,
            "\\b needs a boundary before SO"
        );
        assert_eq!(f.extract("no idea"), None);
    }

    #[test]
    fn phones_need_seven_to_fifteen_digits() {
        let f = field(FieldCheck::phone().unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(
            f.extract("call me on 138-0013-8000"),
            Some("13800138000".into())
        );
        assert_eq!(f.extract("+44 20 7946 0958"), Some("+442079460958".into()));
        assert_eq!(f.extract("12345"), None);
        assert_eq!(f.extract("1234567890123456789"), None);
    }

    #[test]
    fn emails_and_text_have_bounds() {
        let f = field(FieldCheck::email().unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(
            f.extract("mail: ada@example.com."),
            Some("ada@example.com".into())
        );
        assert_eq!(f.extract("ada at example"), None);
        let t = field(FieldCheck::Text);
        assert_eq!(t.extract("  hello \u{7} "), Some("hello".into()));
        assert_eq!(t.extract("   "), None);
        assert_eq!(t.extract(&"x".repeat(41)), None);
    }

    #[test]
    fn cancel_words_match_whole_latin_words_and_any_han() {
        assert!(contains_word("no, cancel it", "cancel"));
        assert!(!contains_word("cancellation fee?", "cancel"));
        assert!(contains_word("算了不要了", "算了"));
        assert!(!contains_word("", "x") && !contains_word("x", ""));
    }
}
