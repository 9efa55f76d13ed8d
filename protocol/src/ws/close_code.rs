//! WebSocket close codes (RFC 6455 §7.4) that Switchboard sends or checks.

/// Normal closure.
pub const NORMAL: u16 = 1000;
/// The server is going away (shutdown, drain, idle timeout).
pub const GOING_AWAY: u16 = 1001;
/// The peer broke the protocol.
pub const PROTOCOL_ERROR: u16 = 1002;
/// A message type the endpoint does not accept (text on a binary protocol, say).
pub const UNSUPPORTED_DATA: u16 = 1003;
/// Payload inconsistent with its type: bad UTF-8, or a frame that fails validation.
pub const INVALID_PAYLOAD: u16 = 1007;
/// A message that breaks the application's policy.
pub const POLICY_VIOLATION: u16 = 1008;
/// A frame or message over the configured limits.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server hit an unexpected condition.
pub const INTERNAL_ERROR: u16 = 1011;
/// The server is overloaded; try again later (used for slow consumers).
pub const TRY_AGAIN_LATER: u16 = 1013;

/// Whether a peer may put `code` in a close frame (RFC 6455 §7.4.1–2): 1000–1003,
/// 1007–1011 (1012–1014 from the IANA registry), and 3000–4999.
pub fn is_valid_received(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}
