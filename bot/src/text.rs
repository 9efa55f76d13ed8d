//! Text preparation shared by matching, keywords and forms: one normal form so that
//! `ＯＲＤＥＲ`, `Order` and `order` are the same word, and a split into runs of Han
//! characters and runs of letters/digits, because the two scripts are compared
//! differently (Chinese has no spaces between words).

/// Lower case, full-width ASCII folded to ASCII, the ideographic space to a space,
/// control characters dropped and runs of white space collapsed to one space.
pub(crate) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for c in text.chars() {
        let c = fold_width(c);
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
            continue;
        }
        if c.is_control() {
            continue;
        }
        out.extend(c.to_lowercase());
        last_space = false;
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

fn fold_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Whether a character is a Han ideograph (CJK unified, extension A, compatibility).
pub(crate) fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

/// A maximal run of one script in a normalized text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run<'a> {
    /// Han characters, no separators.
    Han(&'a str),
    /// Letters and digits of other scripts (a word).
    Word(&'a str),
}

/// The runs of a normalized text, in order; punctuation and spaces separate them.
pub(crate) fn runs(text: &str) -> Vec<Run<'_>> {
    let mut out = Vec::new();
    let mut start: Option<(usize, bool)> = None;
    for (i, c) in text.char_indices() {
        let class = if is_han(c) {
            Some(true)
        } else if c.is_alphanumeric() {
            Some(false)
        } else {
            None
        };
        match (start, class) {
            (Some((_, han)), Some(h)) if han == h => {}
            (Some((s, han)), _) => {
                out.push(make_run(&text[s..i], han));
                start = class.map(|h| (i, h));
            }
            (None, Some(h)) => start = Some((i, h)),
            (None, None) => {}
        }
    }
    if let Some((s, han)) = start {
        out.push(make_run(&text[s..], han));
    }
    out
}

fn make_run(s: &str, han: bool) -> Run<'_> {
    if han {
        Run::Han(s)
    } else {
        Run::Word(s)
    }
}

/// The script a line is written in, for picking the reply language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Script {
    /// At least one Han character: the visitor writes Chinese (mixed lines included).
    Han,
    /// Latin letters and no Han.
    Latin,
    /// Digits and punctuation only (an order number, a phone number): says nothing.
    Unknown,
}

/// Which script a line is in.
pub(crate) fn script_of(text: &str) -> Script {
    let mut latin = false;
    for c in text.chars() {
        if is_han(c) {
            return Script::Han;
        }
        if c.is_alphabetic() {
            latin = true;
        }
    }
    if latin {
        Script::Latin
    } else {
        Script::Unknown
    }
}

/// The primary subtag of a language tag, lower case: `zh-CN` → `zh`.
pub(crate) fn primary_subtag(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The first `max` characters of `text` (lines over the limit are cut, not refused).
pub(crate) fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_case_width_and_space() {
        assert_eq!(normalize("  ＯＲＤＥＲ\u{3000}Status\t\n "), "order status");
        assert_eq!(normalize("我的\u{0007}订单"), "我的订单");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn runs_split_scripts_and_drop_punctuation() {
        let runs = runs("我的order到哪了? so123");
        assert_eq!(
            runs,
            vec![
                Run::Han("我的"),
                Run::Word("order"),
                Run::Han("到哪了"),
                Run::Word("so123")
            ]
        );
    }

    #[test]
    fn script_detection() {
        assert_eq!(script_of("where is it"), Script::Latin);
        assert_eq!(script_of("我的order"), Script::Han);
        assert_eq!(script_of("SO12345678"), Script::Latin);
        assert_eq!(script_of("138 0013 8000"), Script::Unknown);
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("订单状态", 2), "订单");
        assert_eq!(truncate_chars("ab", 5), "ab");
    }

    #[test]
    fn subtags() {
        assert_eq!(primary_subtag("zh-CN"), "zh");
        assert_eq!(primary_subtag("EN"), "en");
    }
}
