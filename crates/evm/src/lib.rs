//! The EVM indexer's logic for x402 settlements made through EIP-3009
//! `transferWithAuthorization` on USDC-like tokens.
//!
//! This crate keeps the decisions pure and separately tested; IO loops only
//! drive them:
//! - [`range`]: turning a provider's "range too large" answer into a smaller
//!   range, and classifying RPC failures into data;
//! - [`reorg`]: the block-hash window that detects reorgs at the head;
//! - [`pairing`]: pairing each `AuthorizationUsed` log with its `Transfer` log
//!   in the same transaction.

pub mod pairing;
pub mod range;
pub mod reorg;
