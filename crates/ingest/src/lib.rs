//! x402scope ingest: what arrives from outside the chains.
//!
//! - [`webhooks`]: `POST /webhooks/{source}`, signed deliveries stored durably
//!   before the reply, then normalised into claims ([`events`]).
//! - [`signature`]: Standard Webhooks and Hook0 (CDP) signatures.

pub mod events;
pub mod signature;
pub mod webhooks;
