//! Reply templates: literal text with variables such as `{claims.name}`,
//! `{fields.order_no}` or `{visitor.id}`, each with an optional default after a bar
//! (`{claims.name|there}`). `{{` and `}}` are literal braces. Templates are parsed at
//! load so a variable that names nothing is an error in the file, not a blank at run
//! time.

use std::collections::BTreeMap;

use crate::session::Claims;

/// A claim a template or a routing rule may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimKey {
    Tier,
    Ltv,
    Language,
    Groups,
    Name,
    Channel,
}

impl ClaimKey {
    pub(crate) const ALL: [(&'static str, ClaimKey); 6] = [
        ("tier", Self::Tier),
        ("ltv", Self::Ltv),
        ("language", Self::Language),
        ("groups", Self::Groups),
        ("name", Self::Name),
        ("channel", Self::Channel),
    ];

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    /// The claim's value as text, if the visitor has it.
    pub(crate) fn text(self, claims: &Claims) -> Option<String> {
        match self {
            Self::Tier => claims.tier.clone(),
            Self::Ltv => claims.ltv.map(|v| v.to_string()),
            Self::Language => claims.language.clone(),
            Self::Groups => (!claims.groups.is_empty()).then(|| claims.groups.join(", ")),
            Self::Name => claims.name.clone(),
            Self::Channel => claims.channel.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Var {
    Claim(ClaimKey),
    Field(String),
    VisitorId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var { var: Var, default: String },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

/// What a template may refer to.
pub(crate) trait KnownFields {
    fn is_known_field(&self, name: &str) -> bool;
}

impl Template {
    /// Parses `text`; every variable must name a known claim or field.
    pub(crate) fn parse(text: &str, fields: &dyn KnownFields) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(format!("unmatched `}}` at character {i}; write `}}}}`")),
                '{' => {
                    let rest = &text[i + 1..];
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("unclosed `{{` at character {i}"))?;
                    let part = parse_var(&rest[..end], fields)?;
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(part);
                    // Skip the variable's characters and its closing brace.
                    while let Some(&(j, _)) = chars.peek() {
                        chars.next();
                        if j == i + 1 + end {
                            break;
                        }
                    }
                }
                _ => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self { parts })
    }

    /// The text with every variable filled in (its default, or nothing, when unknown).
    pub(crate) fn render(
        &self,
        claims: &Claims,
        fields: &BTreeMap<String, String>,
        visitor_id: &str,
    ) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Var { var, default } => {
                    let value = match var {
                        Var::Claim(key) => key.text(claims),
                        Var::Field(name) => fields.get(name).cloned(),
                        Var::VisitorId => Some(visitor_id.to_owned()),
                    };
                    match value {
                        Some(v) if !v.is_empty() => out.push_str(&v),
                        _ => out.push_str(default),
                    }
                }
            }
        }
        out
    }

    /// The fields this template reads.
    #[cfg(test)]
    pub(crate) fn fields(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Var {
                    var: Var::Field(f), ..
                } => Some(f.as_str()),
                _ => None,
            })
            .collect()
    }
}

fn parse_var(inner: &str, fields: &dyn KnownFields) -> Result<Part, String> {
    let (name, default) = match inner.split_once('|') {
        Some((n, d)) => (n.trim(), d.to_owned()),
        None => (inner.trim(), String::new()),
    };
    let var = match name.split_once('.') {
        Some(("claims", key)) => Var::Claim(ClaimKey::from_name(key).ok_or_else(|| {
            let known: Vec<&str> = ClaimKey::ALL.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown claim `{key}` in `{{{inner}}}`; known: {}",
                known.join(", ")
            )
        })?),
        Some(("fields", field)) if fields.is_known_field(field) => Var::Field(field.to_owned()),
        Some(("fields", field)) => {
            return Err(format!(
                "`{{{inner}}}` names field `{field}`, which no form collects"
            ))
        }
        Some(("visitor", "id")) => Var::VisitorId,
        _ => {
            return Err(format!(
                "unknown variable `{{{inner}}}`; use claims.*, fields.* or visitor.id"
            ))
        }
    };
    Ok(Part::Var { var, default })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fields(&'static [&'static str]);
    impl KnownFields for Fields {
        fn is_known_field(&self, name: &str) -> bool {
            self.0.contains(&name)
        }
    }

    #[test]
    fn renders_claims_fields_defaults_and_braces() {
        let t = Template::parse(
            "Hi {claims.name|there}, order {fields.order_no} for {visitor.id} {{ok}}",
            &Fields(&["order_no"]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.fields(), vec!["order_no"]);
        let mut fields = BTreeMap::new();
        let claims = Claims::default();
        assert_eq!(
            t.render(&claims, &fields, "v1"),
            "Hi there, order  for v1 {ok}"
        );
        fields.insert("order_no".to_owned(), "SO1".to_owned());
        let claims = Claims {
            name: Some("王芳".into()),
            ..Claims::default()
        };
        assert_eq!(
            t.render(&claims, &fields, "v1"),
            "Hi 王芳, order SO1 for v1 {ok}"
        );
    }

    #[test]
    fn refuses_unknown_variables_and_bad_braces() {
        let none = Fields(&[]);
        assert!(Template::parse("{fields.order_no}", &none)
            .unwrap_err()
            .contains("no form collects"));
        assert!(Template::parse("{claims.salary}", &none)
            .unwrap_err()
            .contains("unknown claim"));
        assert!(Template::parse("{name}", &none).is_err());
        assert!(Template::parse("open {", &none).is_err());
        assert!(Template::parse("close }", &none).is_err());
        assert_eq!(
            Template::parse("plain 文本", &none).map(|t| t.render(
                &Claims::default(),
                &BTreeMap::new(),
                ""
            )),
            Ok("plain 文本".to_owned())
        );
    }
}
