//! x402scope ingest: what arrives from outside the chains.
//!
//! - [`webhooks`]: `POST /webhooks/{source}`, signed deliveries stored durably
//!   before the reply, then normalised into claims ([`events`]).
//! - [`crawler`]: the Bazaar discovery crawler and the `/supported` refresh.
//! - [`signature`]: Standard Webhooks and Hook0 (CDP) signatures.

pub mod crawler;
pub mod events;
pub mod signature;
pub mod webhooks;
