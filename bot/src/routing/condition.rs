//! Routing conditions as written in the rules file: `ltv >= 5000`, `language == zh`,
//! `tier in [vip, gold]`, `groups contains wholesale`, `fields.city != "北京"`.
//!
//! Grammar (white space between tokens is free):
//! `condition := attribute op value`, `attribute := name ("." name)*`,
//! `op := == | != | >= | <= | > | < | in | not in | contains`,
//! `value := number | word | "quoted" | [scalar, ...]`.

use std::fmt;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==` (strings compare ASCII case-insensitively).
    Eq,
    /// `!=`.
    Ne,
    /// `>=` (numbers).
    Ge,
    /// `>`.
    Gt,
    /// `<=`.
    Le,
    /// `<`.
    Lt,
    /// `in [..]`: the value (or any element of a list value) is in the list.
    In,
    /// `not in [..]`: the value (and every element of a list value) is not in the list.
    NotIn,
    /// `contains x`: a list value has `x`, or a text value has `x` in it.
    Contains,
}

/// The right-hand side of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A number.
    Num(f64),
    /// A word or a quoted string.
    Text(String),
    /// A bracketed list.
    List(Vec<String>),
}

/// One parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The attribute's name, such as `ltv` or `fields.city`.
    pub attribute: String,
    /// The operator.
    pub op: Op,
    /// What it is compared with.
    pub operand: Operand,
}

/// Why a condition does not parse or does not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// The text does not follow the grammar.
    #[error("condition `{text}`: {reason}")]
    Syntax {
        /// The condition.
        text: String,
        /// What was expected.
        reason: String,
    },
    /// The operator and the value do not go together (`ltv >= gold`, `tier in vip`).
    #[error("condition `{text}`: operator `{op}` needs {needs}")]
    Operand {
        /// The condition.
        text: String,
        /// The operator.
        op: String,
        /// What kind of value it needs.
        needs: &'static str,
    },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Ge => ">=",
            Self::Gt => ">",
            Self::Le => "<=",
            Self::Lt => "<",
            Self::In => "in",
            Self::NotIn => "not in",
            Self::Contains => "contains",
        })
    }
}

/// Parses one condition.
pub fn parse_condition(text: &str) -> Result<Condition, ConditionError> {
    let syntax = |reason: &str| ConditionError::Syntax {
        text: text.to_owned(),
        reason: reason.to_owned(),
    };
    let mut cur = Cursor { rest: text.trim() };
    let attribute = cur
        .name()
        .ok_or_else(|| syntax("expected an attribute name"))?;
    let op = cur.op().ok_or_else(|| syntax("expected an operator"))?;
    let operand = cur.operand().map_err(|r| syntax(&r))?;
    if !cur.rest.trim().is_empty() {
        return Err(syntax("unexpected text after the value"));
    }
    check_operand(text, op, &operand)?;
    Ok(Condition {
        attribute,
        op,
        operand,
    })
}

fn check_operand(text: &str, op: Op, operand: &Operand) -> Result<(), ConditionError> {
    let needs = match (op, operand) {
        (Op::Ge | Op::Gt | Op::Le | Op::Lt, Operand::Num(_)) => return Ok(()),
        (Op::Ge | Op::Gt | Op::Le | Op::Lt, _) => "a number",
        (Op::In | Op::NotIn, Operand::List(_)) => return Ok(()),
        (Op::In | Op::NotIn, _) => "a [list]",
        (Op::Eq | Op::Ne | Op::Contains, Operand::List(_)) => "a single value",
        (Op::Eq | Op::Ne | Op::Contains, _) => return Ok(()),
    };
    Err(ConditionError::Operand {
        text: text.to_owned(),
        op: op.to_string(),
        needs,
    })
}

struct Cursor<'a> {
    rest: &'a str,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | ':' | '@' | '/')
}

impl<'a> Cursor<'a> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let end = self.rest.find(|c| !keep(c)).unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }

    fn eat(&mut self, token: &str) -> bool {
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn name(&mut self) -> Option<String> {
        self.skip_space();
        let name = self.take_while(|c| is_name_char(c) || c == '.');
        let well_formed = !name.is_empty()
            && name.split('.').all(|part| {
                part.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            });
        well_formed.then(|| name.to_owned())
    }

    fn op(&mut self) -> Option<Op> {
        self.skip_space();
        for (token, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">=", Op::Ge),
            ("<=", Op::Le),
            (">", Op::Gt),
            ("<", Op::Lt),
        ] {
            if self.eat(token) {
                return Some(op);
            }
        }
        match self.take_while(|c| c.is_ascii_alphabetic()) {
            "in" => Some(Op::In),
            "contains" => Some(Op::Contains),
            "not" => {
                self.skip_space();
                (self.take_while(|c| c.is_ascii_alphabetic()) == "in").then_some(Op::NotIn)
            }
            _ => None,
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.skip_space();
        if self.eat("[") {
            return self.list().map(Operand::List);
        }
        let scalar = self.scalar()?;
        Ok(match scalar {
            Scalar::Quoted(s) => Operand::Text(s),
            Scalar::Word(s) => match s.parse::<f64>() {
                Ok(n) if n.is_finite() => Operand::Num(n),
                _ => Operand::Text(s),
            },
        })
    }

    fn list(&mut self) -> Result<Vec<String>, String> {
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.eat("]") {
                return Ok(items);
            }
            if !items.is_empty() && !self.eat(",") {
                return Err("expected `,` or `]` in the list".to_owned());
            }
            self.skip_space();
            items.push(match self.scalar()? {
                Scalar::Quoted(s) | Scalar::Word(s) => s,
            });
        }
    }

    fn scalar(&mut self) -> Result<Scalar, String> {
        self.skip_space();
        if self.eat("\"") {
            let end = self
                .rest
                .find('"')
                .ok_or_else(|| "unclosed quote".to_owned())?;
            let (inner, rest) = self.rest.split_at(end);
            self.rest = &rest[1..];
            return Ok(Scalar::Quoted(inner.to_owned()));
        }
        let word = self.take_while(is_word_char);
        if word.is_empty() {
            return Err("expected a value".to_owned());
        }
        Ok(Scalar::Word(word.to_owned()))
    }
}

enum Scalar {
    Quoted(String),
    Word(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Condition {
        parse_condition(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(
            ok("ltv >= 5000"),
            Condition {
                attribute: "ltv".into(),
                op: Op::Ge,
                operand: Operand::Num(5000.0)
            }
        );
        assert_eq!(ok("language == zh").operand, Operand::Text("zh".into()));
        assert_eq!(
            ok("tier in [vip, gold]").operand,
            Operand::List(vec!["vip".into(), "gold".into()])
        );
        assert_eq!(ok("tier not in []").op, Op::NotIn);
        assert_eq!(
            ok("fields.city != \"北 京\"").operand,
            Operand::Text("北 京".into())
        );
        assert_eq!(ok("groups contains b2b").op, Op::Contains);
        assert_eq!(ok("ltv<10").op, Op::Lt);
    }

    #[test]
    fn refuses_malformed_and_mistyped_conditions() {
        for bad in [
            "",
            "ltv",
            "ltv >=",
            ">= 5",
            "ltv >= gold",
            "tier in vip",
            "tier == [a]",
            "tier in [a b]",
            "tier in [a,",
            "name == \"open",
            "ltv >= 5 extra",
            "1x == 2",
            "tier not vip",
            "a..b == 1",
        ] {
            assert!(parse_condition(bad).is_err(), "{bad:?} parsed");
        }
    }
}
