//! The EVM indexer for x402 settlements made through EIP-3009
//! `transferWithAuthorization` on USDC-like tokens, on Base or any EVM chain.
//!
//! The decisions are pure and separately tested; IO loops only drive them:
//! - [`range`]: RPC failures as data, and smaller ranges after "range too large";
//! - [`reorg`]: the block-hash window that detects reorgs at the head;
//! - [`pairing`]: each `AuthorizationUsed` log with its `Transfer` log;
//! - [`scan`]: which pairs are x402 settlements, and by which facilitator.
//!
//! It writes through the narrow [`types::PaymentSink`] interface (the store
//! implements it) and never reads the environment: it is handed its config.

pub mod indexer;
pub mod pairing;
pub mod range;
pub mod reorg;
pub mod rpc;
pub mod scan;
pub mod sink;
pub mod types;
