//! The x402scope domain model: networks (CAIP-2 and the x402 v1 names),
//! the default assets, exact amounts, addresses and the facilitator registry.
//! Pure: no IO beyond parsing data handed to it (and the registry file
//! compiled in).

pub mod address;
pub mod amount;
pub mod asset;
pub mod network;
pub mod registry;

pub use address::{Address, AddressError, EvmAddress, SolanaAddress};
pub use amount::{Amount, AmountError};
pub use asset::{Asset, TransferMethod};
pub use network::{Network, NetworkError};
pub use registry::{Facilitator, FacilitatorRegistry, NetworkPattern, RegistryError, Signer};
