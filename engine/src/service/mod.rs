//! The customer-service layer: routing visitors to agents ([`router`]) and the
//! conversations owned by each shard.

pub mod commands;
pub mod home;
pub mod presence;
pub mod router;
