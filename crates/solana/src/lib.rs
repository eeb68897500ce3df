//! The Solana indexer for x402 settlements: SPL Token and Token-2022
//! transfers (top-level and inner instructions) whose fee payer is a known
//! facilitator, with their memo, at `confirmed`, marked final at `finalized`.
//!
//! The decisions are pure and separately tested; the IO loop only drives them:
//! - [`parse`]: one `getTransaction` (jsonParsed) answer → payment rows;
//! - [`cursor`]: where each watched address resumes, and what happens to rows
//!   that are not final yet.
//!
//! [`rpc`] is the rate-limited, retrying RPC client and [`indexer`] the loop.
//! It never reads the environment: it is handed its settings.

pub mod cursor;
pub mod indexer;
pub mod parse;
pub mod rpc;
pub mod tx;
