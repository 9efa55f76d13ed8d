//! Every limit the control API enforces on its input, in one place.

/// Longest request head (request line and headers), bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most headers in a request.
pub const MAX_HEADERS: usize = 64;
/// Longest request body, bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// Longest user id (agent, visitor, push target), bytes of printable ASCII.
pub const MAX_USER: usize = 128;
/// Longest name (event name, bot name, group), bytes of printable ASCII.
pub const MAX_NAME: usize = 64;
/// Longest message body posted into a conversation, bytes of UTF-8.
pub const MAX_MESSAGE_BODY: usize = 16 * 1024;
/// Longest `client_msg_id` (the protocol's limit).
pub const MAX_CLIENT_MSG_ID: usize = 64;
/// Largest event `data`, bytes once serialized.
pub const MAX_EVENT_DATA: usize = 32 * 1024;
/// Longest kick reason, bytes (a WebSocket close frame carries at most 123).
pub const MAX_REASON: usize = 123;
/// The kick reason when none is given.
pub const DEFAULT_KICK_REASON: &str = "closed by the operator";
/// Largest agent capacity.
pub const MAX_CAPACITY: u32 = 1000;
/// Largest agent routing weight.
pub const MAX_WEIGHT: u32 = 1000;
/// Most groups per agent.
pub const MAX_GROUPS: usize = 32;
/// Highest degradation level.
pub const MAX_DEGRADATION_LEVEL: u8 = 3;
/// `limit` of a conversation list when absent.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// Largest `limit` of a conversation list.
pub const MAX_LIST_LIMIT: usize = 1000;
/// `recent` of a conversation when absent.
pub const DEFAULT_RECENT: usize = 20;
/// `GET /v1/conversations/{id}/items`: items per page when `limit` is not given.
pub const DEFAULT_ITEMS_LIMIT: usize = 100;
/// `GET /v1/conversations/{id}/items`: the largest `limit`.
pub const MAX_ITEMS_LIMIT: usize = 1000;
/// Largest `recent` of a conversation.
pub const MAX_RECENT: usize = 1000;
/// `GET /v1/events`: events per page when `limit` is not given (the largest is the
/// engine's `--events-max-limit`).
pub const DEFAULT_EVENTS_LIMIT: usize = 100;
