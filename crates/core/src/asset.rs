//! The default x402 stablecoins per network: address or mint, decimals and
//! the EIP-712 domain `name`/`version` the reference SDKs sign with.
//!
//! Where the upstream tables disagree (Polygon, Monad) the value here is the
//! one the digest marks as current; confirm with `name()`/`version()` on-chain.

use crate::address::{Address, AddressError};
use crate::network::{Network, SOLANA_DEVNET, SOLANA_MAINNET, SOLANA_TESTNET};

/// How the reference client moves this token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferMethod {
    /// `transferWithAuthorization` (EIP-3009), the default for EVM.
    Eip3009,
    /// Permit2 through the x402 proxy (`extra.assetTransferMethod: "permit2"`).
    Permit2,
    /// An SPL `TransferChecked` (Solana).
    SplTransfer,
}

/// One known asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// CAIP-2 namespace of the network.
    pub namespace: &'static str,
    /// CAIP-2 reference of the network (chain id or cut genesis hash).
    pub reference: &'static str,
    pub symbol: &'static str,
    /// Contract address (EIP-55 form) or SPL mint.
    pub address: &'static str,
    pub decimals: u8,
    /// EIP-712 domain name, for EVM tokens.
    pub eip712_name: Option<&'static str>,
    /// EIP-712 domain version; `None` where the sources give none.
    pub eip712_version: Option<&'static str>,
    pub transfer: TransferMethod,
}

impl Asset {
    pub fn network(&self) -> Network {
        match Network::parse_caip2(&format!("{}:{}", self.namespace, self.reference)) {
            Ok(n) => n,
            // The table is checked by the tests below; this arm is unreachable
            // in practice and falls back to an EVM chain id.
            Err(_) => Network::eip155(self.reference.parse().unwrap_or(0)),
        }
    }

    /// The parsed address.
    pub fn parsed_address(&self) -> Result<Address, AddressError> {
        Address::parse_for_namespace(self.namespace, self.address)
    }
}

const fn usdc_evm(
    reference: &'static str,
    address: &'static str,
    name: &'static str,
    version: Option<&'static str>,
) -> Asset {
    Asset {
        namespace: "eip155",
        reference,
        symbol: "USDC",
        address,
        decimals: 6,
        eip712_name: Some(name),
        eip712_version: version,
        transfer: TransferMethod::Eip3009,
    }
}

const fn usdc_solana(reference: &'static str, mint: &'static str) -> Asset {
    Asset {
        namespace: "solana",
        reference,
        symbol: "USDC",
        address: mint,
        decimals: 6,
        eip712_name: None,
        eip712_version: None,
        transfer: TransferMethod::SplTransfer,
    }
}

const V2: Option<&str> = Some("2");

/// The digest's table of default stablecoins.
pub const ASSETS: &[Asset] = &[
    usdc_evm(
        "8453",
        "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        "USD Coin",
        V2,
    ),
    usdc_evm(
        "84532",
        "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        "USDC",
        V2,
    ),
    // TS/Go/legacy say "USD Coin"; x402-rs says "USDC".
    usdc_evm(
        "137",
        "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359",
        "USD Coin",
        V2,
    ),
    usdc_evm(
        "80002",
        "0x41E94Eb019C0762f9Bfcf9Fb1E58725BfB0e7582",
        "USDC",
        V2,
    ),
    usdc_evm(
        "43114",
        "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E",
        "USD Coin",
        V2,
    ),
    usdc_evm(
        "43113",
        "0x5425890298aed601595a70AB815c96711a31Bc65",
        "USD Coin",
        V2,
    ),
    usdc_evm(
        "42161",
        "0xaf88d065e77c8cC2239327C5EDb3A432268e5831",
        "USD Coin",
        V2,
    ),
    usdc_evm(
        "421614",
        "0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d",
        "USD Coin",
        V2,
    ),
    usdc_evm(
        "1329",
        "0xe15fC38F6D8c56aF07bbCBe3BAf5708A2Bf42392",
        "USDC",
        V2,
    ),
    usdc_evm(
        "1328",
        "0x4fCF1784B31630811181f670Aea7A7bEF803eaED",
        "USDC",
        V2,
    ),
    usdc_evm(
        "4689",
        "0xcdf79194c6c285077a58da47641d4dbe51f63542",
        "Bridged USDC",
        None,
    ),
    usdc_evm(
        "3338",
        "0xbbA60da06c2c5424f03f7434542280FCAd453d10",
        "USDC",
        None,
    ),
    // Corrected upstream from "USD Coin" (x402-foundation/x402 PR #3105).
    usdc_evm(
        "143",
        "0x754704Bc059F8C67012fEd69BC8A327a5aafb603",
        "USDC",
        V2,
    ),
    Asset {
        namespace: "eip155",
        reference: "988",
        symbol: "USDT0",
        address: "0x779Ded0c9e1022225f8E0630b35a9b54bE713736",
        decimals: 6,
        eip712_name: Some("USDT0"),
        eip712_version: Some("1"),
        transfer: TransferMethod::Eip3009,
    },
    Asset {
        namespace: "eip155",
        reference: "2201",
        symbol: "USDT0",
        address: "0x78Cf24370174180738C5B8E352B6D14c83a6c9A9",
        decimals: 6,
        eip712_name: Some("USDT0"),
        eip712_version: Some("1"),
        transfer: TransferMethod::Eip3009,
    },
    Asset {
        namespace: "eip155",
        reference: "4326",
        symbol: "MegaUSD",
        address: "0xFAfDdbb3FC7688494971a79cc65DCa3EF82079E7",
        decimals: 18,
        eip712_name: Some("MegaUSD"),
        eip712_version: Some("1"),
        transfer: TransferMethod::Permit2,
    },
    usdc_solana(
        SOLANA_MAINNET,
        "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
    ),
    usdc_solana(
        SOLANA_DEVNET,
        "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
    ),
    usdc_solana(
        SOLANA_TESTNET,
        "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
    ),
];

fn on(network: &Network) -> impl Iterator<Item = &'static Asset> + '_ {
    ASSETS
        .iter()
        .filter(move |a| a.namespace == network.namespace() && a.reference == network.reference())
}

/// The default stablecoin of `network`, if the table has one.
pub fn default_asset(network: &Network) -> Option<&'static Asset> {
    on(network).next()
}

/// The known asset at `address` on `network` (EVM addresses in any case).
pub fn lookup(network: &Network, address: &str) -> Option<&'static Asset> {
    let wanted = Address::parse_for(network, address).ok()?;
    on(network).find(|a| a.parsed_address().ok() == Some(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_parses() {
        for a in ASSETS {
            assert!(a.parsed_address().is_ok(), "{a:?}");
            assert_eq!(
                a.network().to_string(),
                format!("{}:{}", a.namespace, a.reference)
            );
        }
    }
}
