//! The small closed sets of names that chat frames carry: a JSON string in the JSON
//! encoding, one byte in the binary one. Both forms are listed in `docs/protocol.md`;
//! codes and names are never reused.

/// Declares a fieldless enum with its JSON name and binary code for every variant.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = ($code:literal, $text:literal), )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The JSON name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value a JSON name stands for, if any.
            pub fn from_name(name: &str) -> Option<$name> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The byte that stands for this value in the binary encoding.
            pub(crate) fn code(self) -> u8 {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            /// The value a binary code stands for, if any.
            pub(crate) fn from_code(code: u8) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// What an authenticated user is (the `role` claim of its token).
    pub enum Role {
        /// A customer, in a web widget or an app.
        Visitor = (0, "visitor"),
        /// A customer-service agent, in the agent console.
        Agent = (1, "agent"),
    }
}

wire_enum! {
    /// An agent's availability for new conversations (`agent_status`).
    pub enum AgentStatus {
        /// Takes new conversations up to its capacity.
        Online = (0, "online"),
        /// Keeps its conversations, takes no new ones.
        Away = (1, "away"),
        /// Signs off: its conversations go back to the queue.
        Offline = (2, "offline"),
    }
}

wire_enum! {
    /// The phase of a conversation, as a `conversation` snapshot names it.
    pub enum ConversationState {
        /// In the routing queue.
        Waiting = (0, "waiting"),
        /// An agent serves it.
        Serving = (1, "serving"),
        /// Offered by its agent to another agent.
        Transferring = (2, "transferring"),
        /// Over.
        Ended = (3, "ended"),
    }
}

wire_enum! {
    /// What a `system` message announces.
    pub enum SystemKind {
        /// The conversation was opened.
        Created = (0, "created"),
        /// It entered the routing queue (`position` says where).
        Queued = (1, "queued"),
        /// Its place in the queue changed (`position`).
        QueuePosition = (2, "queue_position"),
        /// An agent (`agent`) now serves it.
        Assigned = (3, "assigned"),
        /// Its agent offered it to another agent (`agent` = the target).
        TransferRequested = (4, "transfer_requested"),
        /// The target accepted (`agent` = the new agent).
        Transferred = (5, "transferred"),
        /// The transfer failed (`reason`); `agent` is the agent serving again, absent
        /// if it went back to the queue.
        TransferFailed = (6, "transfer_failed"),
        /// It went back to the routing queue (`reason`).
        Requeued = (7, "requeued"),
        /// It ended (`reason`).
        Ended = (8, "ended"),
    }
}
