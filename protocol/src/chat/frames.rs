//! The chat frames of `/v1/ws`, independent of how they are encoded.
//!
//! Adding a frame means: a variant here, a wire struct and a type tag in
//! [`super::binary`], a wire struct and a `"type"` name in [`super::json`], and a row in
//! `docs/protocol.md`. The encodings never see each other.

use std::borrow::Cow;

/// A frame a client sends to the server, borrowing from the received payload where it
/// can (binary always; JSON when a string has no escapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// Send `body` to the connection `to`, on any shard.
    Direct {
        /// The receiving connection's id (as announced in its `welcome`).
        to: u64,
        /// The message text.
        body: Cow<'a, str>,
    },
}

impl ClientFrame<'_> {
    /// Copies whatever is still borrowed, so the frame can outlive the payload.
    pub fn into_owned(self) -> ClientFrame<'static> {
        match self {
            ClientFrame::Direct { to, body } => ClientFrame::Direct {
                to,
                body: Cow::Owned(body.into_owned()),
            },
        }
    }
}

/// A frame the server sends to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFrame<'a> {
    /// The first frame on every connection: who the client is and where it landed.
    Welcome {
        /// This connection's id, unique in the node; others address it with it.
        conn: u64,
        /// The shard (CPU) that holds the connection.
        shard: u16,
        /// The authenticated user id.
        user: &'a str,
    },
    /// A `direct` frame from another connection.
    Delivered {
        /// The sending connection's id.
        from: u64,
        /// The message text.
        body: &'a str,
    },
    /// Something the client asked for failed; the connection stays open.
    Error {
        /// A stable machine-readable code, e.g. `unknown_connection`.
        code: &'a str,
        /// A human-readable explanation.
        message: &'a str,
    },
}

/// A [`ServerFrame`] that owns its strings, as decoded by clients (tests, loadgen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedServerFrame {
    /// See [`ServerFrame::Welcome`].
    Welcome {
        /// This connection's id.
        conn: u64,
        /// The shard that holds the connection.
        shard: u16,
        /// The authenticated user id.
        user: String,
    },
    /// See [`ServerFrame::Delivered`].
    Delivered {
        /// The sending connection's id.
        from: u64,
        /// The message text.
        body: String,
    },
    /// See [`ServerFrame::Error`].
    Error {
        /// A stable machine-readable code.
        code: String,
        /// A human-readable explanation.
        message: String,
    },
}

impl OwnedServerFrame {
    /// Borrows this frame as a [`ServerFrame`], e.g. to encode it again.
    pub fn as_frame(&self) -> ServerFrame<'_> {
        match self {
            OwnedServerFrame::Welcome { conn, shard, user } => ServerFrame::Welcome {
                conn: *conn,
                shard: *shard,
                user,
            },
            OwnedServerFrame::Delivered { from, body } => {
                ServerFrame::Delivered { from: *from, body }
            }
            OwnedServerFrame::Error { code, message } => ServerFrame::Error { code, message },
        }
    }
}

impl From<ServerFrame<'_>> for OwnedServerFrame {
    fn from(frame: ServerFrame<'_>) -> Self {
        match frame {
            ServerFrame::Welcome { conn, shard, user } => OwnedServerFrame::Welcome {
                conn,
                shard,
                user: user.to_owned(),
            },
            ServerFrame::Delivered { from, body } => OwnedServerFrame::Delivered {
                from,
                body: body.to_owned(),
            },
            ServerFrame::Error { code, message } => OwnedServerFrame::Error {
                code: code.to_owned(),
                message: message.to_owned(),
            },
        }
    }
}
