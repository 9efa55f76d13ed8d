//! WeChat's XML: the outer envelope (`ToUserName`, `Encrypt`), the messages inside
//! (text, image, voice, location, events), and the encrypted reply envelope.
//!
//! Parsed with roxmltree with DTDs refused (no entity expansion) and a node limit,
//! so a hostile body costs at most its own size.

use roxmltree::{Document, Node, ParsingOptions};

use crate::event::VisitorContent;

/// The most XML nodes a body may have; WeChat's messages have about twenty.
const NODES_LIMIT: u32 = 512;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML, a DTD, or too many nodes.
    #[error("malformed xml: {0}")]
    Syntax(String),
    /// The root element is not `<xml>`.
    #[error("the root element is not <xml>")]
    Root,
    /// A required field is missing or empty.
    #[error("missing field {0}")]
    Missing(&'static str),
    /// A field has a value of the wrong form.
    #[error("invalid field {0}")]
    Invalid(&'static str),
}

/// The outer envelope of a POST in safe or compatible mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The account's original id.
    pub to_user: Option<String>,
    /// The encrypted message, when there is one.
    pub encrypt: Option<String>,
}

/// One message from a follower.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The account's original id (`gh_...`).
    pub to_user: String,
    /// The follower's OpenID.
    pub from_user: String,
    /// Unix seconds.
    pub create_time: u64,
    /// The platform's message id (events have none).
    pub msg_id: Option<u64>,
    /// What it is: `MsgType` and its fields. Events other than subscribe and
    /// unsubscribe keep their `Event` name; other message types become
    /// `OtherEvent { name: "message:<MsgType>" }`.
    pub body: VisitorContent,
}

/// The direct children of `<xml>` and their text.
struct Fields<'a, 'input> {
    root: Node<'a, 'input>,
}

impl<'a, 'input> Fields<'a, 'input> {
    /// The field's text, trimmed (WeChat's own samples pad some values).
    fn get(&self, name: &str) -> Option<&'a str> {
        self.raw(name)
            .map(str::trim)
            .filter(|text| !text.is_empty())
    }

    /// The field's text as sent, for what a person typed.
    fn raw(&self, name: &str) -> Option<&'a str> {
        self.root
            .children()
            .find(|n| n.is_element() && n.tag_name().name() == name)
            .and_then(|n| n.text())
            .filter(|text| !text.is_empty())
    }

    fn string(&self, name: &'static str) -> Result<String, XmlError> {
        self.get(name)
            .map(str::to_owned)
            .ok_or(XmlError::Missing(name))
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    fn number<T: std::str::FromStr>(&self, name: &'static str) -> Result<Option<T>, XmlError> {
        self.get(name)
            .map(|text| text.parse().map_err(|_| XmlError::Invalid(name)))
            .transpose()
    }
}

fn parse_root<T>(
    xml: &str,
    read: impl FnOnce(&Fields<'_, '_>) -> Result<T, XmlError>,
) -> Result<T, XmlError> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..ParsingOptions::default()
    };
    let document =
        Document::parse_with_options(xml, options).map_err(|e| XmlError::Syntax(e.to_string()))?;
    let root = document.root_element();
    if root.tag_name().name() != "xml" {
        return Err(XmlError::Root);
    }
    read(&Fields { root })
}

/// Parses the outer envelope.
pub fn parse_envelope(xml: &str) -> Result<Envelope, XmlError> {
    parse_root(xml, |fields| {
        Ok(Envelope {
            to_user: fields.optional("ToUserName"),
            encrypt: fields.optional("Encrypt"),
        })
    })
}

/// Parses a message (plaintext mode's body, or safe mode's decrypted text).
pub fn parse_message(xml: &str) -> Result<Message, XmlError> {
    parse_root(xml, |fields| {
        let msg_type = fields.string("MsgType")?;
        Ok(Message {
            to_user: fields.string("ToUserName")?,
            from_user: fields.string("FromUserName")?,
            create_time: fields
                .number("CreateTime")?
                .ok_or(XmlError::Missing("CreateTime"))?,
            msg_id: fields.number("MsgId")?,
            body: parse_body(fields, msg_type)?,
        })
    })
}

fn parse_body(fields: &Fields<'_, '_>, msg_type: String) -> Result<VisitorContent, XmlError> {
    Ok(match msg_type.as_str() {
        "text" => VisitorContent::Text {
            text: fields
                .raw("Content")
                .ok_or(XmlError::Missing("Content"))?
                .to_owned(),
        },
        "image" => VisitorContent::Image {
            media_id: fields.string("MediaId")?,
            url: fields.optional("PicUrl"),
        },
        "voice" => VisitorContent::Voice {
            media_id: fields.string("MediaId")?,
            format: fields.optional("Format"),
            recognition: fields.optional("Recognition"),
        },
        "location" => VisitorContent::Location {
            latitude: coordinate(fields, "Location_X", 90.0)?,
            longitude: coordinate(fields, "Location_Y", 180.0)?,
            scale: fields.number("Scale")?,
            label: fields.optional("Label"),
        },
        "event" => match fields.string("Event")?.as_str() {
            "subscribe" => VisitorContent::Subscribe,
            "unsubscribe" => VisitorContent::Unsubscribe,
            other => VisitorContent::OtherEvent {
                name: other.to_owned(),
            },
        },
        _ => VisitorContent::OtherEvent {
            name: format!("message:{msg_type}"),
        },
    })
}

fn coordinate(fields: &Fields<'_, '_>, name: &'static str, bound: f64) -> Result<f64, XmlError> {
    let value: f64 = fields.number(name)?.ok_or(XmlError::Missing(name))?;
    if !value.is_finite() || value.abs() > bound {
        return Err(XmlError::Invalid(name));
    }
    Ok(value)
}

/// `text` as a CDATA section; a `]]>` inside is split across two sections.
pub fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// The envelope of an encrypted reply (or of a message a simulator sends).
pub fn encrypted_envelope(
    encrypt: &str,
    msg_signature: &str,
    timestamp: u64,
    nonce: &str,
) -> String {
    format!(
        "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature><TimeStamp>{timestamp}</TimeStamp><Nonce>{}</Nonce></xml>",
        cdata(encrypt),
        cdata(msg_signature),
        cdata(nonce)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        let text = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[this is a test]]></Content><MsgId>1234567890123456</MsgId></xml>";
        let message = parse_message(text).expect("text");
        assert_eq!(message.from_user, "o1");
        assert_eq!(message.msg_id, Some(1234567890123456));
        assert_eq!(
            message.body,
            VisitorContent::Text {
                text: "this is a test".into()
            }
        );

        let location = "<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>location</MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[somewhere]]></Label><MsgId>7</MsgId></xml>";
        match parse_message(location).expect("location").body {
            VisitorContent::Location {
                latitude,
                longitude,
                scale,
                label,
            } => {
                assert!(
                    (latitude - 23.134521).abs() < 1e-9 && (longitude - 113.358803).abs() < 1e-9
                );
                assert_eq!((scale, label.as_deref()), (Some(20), Some("somewhere")));
            }
            other => panic!("{other:?}"),
        }

        let event = "<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>2</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>";
        let parsed = parse_message(event).expect("event");
        assert_eq!(parsed.msg_id, None);
        assert_eq!(parsed.body, VisitorContent::Subscribe);
    }

    #[test]
    fn refuses_dtds_wrong_roots_and_bad_fields() {
        let bomb = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><xml><Content>&b;</Content></xml>";
        assert!(matches!(parse_message(bomb), Err(XmlError::Syntax(_))));
        assert_eq!(parse_envelope("<root/>"), Err(XmlError::Root));
        let no_from = "<xml><ToUserName>gh</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>";
        assert_eq!(
            parse_message(no_from),
            Err(XmlError::Missing("FromUserName"))
        );
        let bad_time = "<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>soon</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>";
        assert_eq!(
            parse_message(bad_time),
            Err(XmlError::Invalid("CreateTime"))
        );
        let many = format!("<xml>{}</xml>", "<a/>".repeat(1000));
        assert!(matches!(parse_envelope(&many), Err(XmlError::Syntax(_))));
    }

    #[test]
    fn cdata_survives_its_own_terminator() {
        let tricky = "a]]>b";
        let xml = format!("<xml><ToUserName>g</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>{}</Content></xml>", cdata(tricky));
        assert_eq!(
            parse_message(&xml).expect("parses").body,
            VisitorContent::Text {
                text: tricky.into()
            }
        );
    }
}
