//! The x402scope domain model: networks (CAIP-2), assets, exact amounts,
//! addresses and the facilitator registry. Pure: no IO beyond parsing data
//! handed to it.

pub mod amount;
pub mod network;

pub use amount::{Amount, AmountError};
pub use network::{Network, NetworkError};
