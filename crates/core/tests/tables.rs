//! Table tests, one row per network and per asset of the digest's tables
//! (x402-protocol.md §2), written out by hand rather than read from the code.

use x402scope_core::asset::{self, ASSETS, TransferMethod};
use x402scope_core::network::V1_NAMES;
use x402scope_core::{Address, Amount, Network, NetworkError};

/// v1 name → CAIP-2.
const NETWORKS: &[(&str, &str)] = &[
    ("ethereum", "eip155:1"),
    ("sepolia", "eip155:11155111"),
    ("base", "eip155:8453"),
    ("base-sepolia", "eip155:84532"),
    ("avalanche", "eip155:43114"),
    ("avalanche-fuji", "eip155:43113"),
    ("polygon", "eip155:137"),
    ("polygon-amoy", "eip155:80002"),
    ("sei", "eip155:1329"),
    ("sei-testnet", "eip155:1328"),
    ("iotex", "eip155:4689"),
    ("peaq", "eip155:3338"),
    ("story", "eip155:1514"),
    ("educhain", "eip155:41923"),
    ("abstract", "eip155:2741"),
    ("abstract-testnet", "eip155:11124"),
    ("skale-base-sepolia", "eip155:324705682"),
    ("megaeth", "eip155:4326"),
    ("monad", "eip155:143"),
    ("stable", "eip155:988"),
    ("stable-testnet", "eip155:2201"),
    ("xdc", "eip155:50"),
    ("xrpl-evm", "eip155:1440000"),
    ("celo", "eip155:42220"),
    ("celo-sepolia", "eip155:11142220"),
    ("radius", "eip155:723487"),
    ("radius-testnet", "eip155:72344"),
    ("solana", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"),
    ("solana-devnet", "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"),
    ("solana-testnet", "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z"),
];

#[test]
fn v1_names_and_caip2() {
    assert_eq!(V1_NAMES.len(), NETWORKS.len());
    for (name, caip2) in NETWORKS {
        let n = Network::from_v1_name(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(n.to_string(), *caip2, "{name}");
        assert_eq!(n.v1_name(), Some(*name), "{caip2}");
        let parsed = Network::parse_caip2(caip2).unwrap();
        assert_eq!(parsed, n);
        assert_eq!(Network::parse_lenient(name).unwrap(), n);
        assert_eq!(Network::parse_lenient(caip2).unwrap(), n);
        if let Some(id) = caip2.strip_prefix("eip155:") {
            assert_eq!(n.evm_chain_id(), Some(id.parse().unwrap()));
            assert_eq!(Network::eip155(id.parse().unwrap()), n);
        } else {
            assert!(n.is_solana() && n.evm_chain_id().is_none());
        }
    }
    assert_eq!(Network::eip155(42161).v1_name(), None);
}

#[test]
fn solana_full_genesis_hashes_are_cut_to_32() {
    let full = [
        ("5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d", "solana"),
        (
            "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG",
            "solana-devnet",
        ),
        (
            "4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY",
            "solana-testnet",
        ),
    ];
    for (genesis, name) in full {
        let n = Network::parse_lenient(&format!("solana:{genesis}")).unwrap();
        assert_eq!(n.reference(), &genesis[..32]);
        assert_eq!(n.v1_name(), Some(name));
        assert_eq!(Network::solana(genesis).unwrap(), n);
    }
    // only Solana references are cut
    let long = format!("eip155:{}", "1".repeat(33));
    assert_eq!(
        Network::parse_lenient(&long),
        Err(NetworkError::NotCaip2(long.clone()))
    );
}

/// (network, address, symbol, decimals, EIP-712 name, EIP-712 version, method)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    u8,
    Option<&'static str>,
    Option<&'static str>,
    TransferMethod,
);
const E: TransferMethod = TransferMethod::Eip3009;
const ASSET_ROWS: &[Row] = &[
    (
        "eip155:8453",
        "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        "USDC",
        6,
        Some("USD Coin"),
        Some("2"),
        E,
    ),
    (
        "eip155:84532",
        "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        "USDC",
        6,
        Some("USDC"),
        Some("2"),
        E,
    ),
    (
        "eip155:137",
        "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359",
        "USDC",
        6,
        Some("USD Coin"),
        Some("2"),
        E,
    ),
    (
        "eip155:80002",
        "0x41E94Eb019C0762f9Bfcf9Fb1E58725BfB0e7582",
        "USDC",
        6,
        Some("USDC"),
        Some("2"),
        E,
    ),
    (
        "eip155:43114",
        "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E",
        "USDC",
        6,
        Some("USD Coin"),
        Some("2"),
        E,
    ),
    (
        "eip155:43113",
        "0x5425890298aed601595a70AB815c96711a31Bc65",
        "USDC",
        6,
        Some("USD Coin"),
        Some("2"),
        E,
    ),
    (
        "eip155:42161",
        "0xaf88d065e77c8cC2239327C5EDb3A432268e5831",
        "USDC",
        6,
        Some("USD Coin"),
        Some("2"),
        E,
    ),
    (
        "eip155:421614",
        "0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d",
        "USDC",
        6,
        Some("USD Coin"),
        Some("2"),
        E,
    ),
    (
        "eip155:1329",
        "0xe15fC38F6D8c56aF07bbCBe3BAf5708A2Bf42392",
        "USDC",
        6,
        Some("USDC"),
        Some("2"),
        E,
    ),
    (
        "eip155:1328",
        "0x4fCF1784B31630811181f670Aea7A7bEF803eaED",
        "USDC",
        6,
        Some("USDC"),
        Some("2"),
        E,
    ),
    (
        "eip155:4689",
        "0xcdf79194c6c285077a58da47641d4dbe51f63542",
        "USDC",
        6,
        Some("Bridged USDC"),
        None,
        E,
    ),
    (
        "eip155:3338",
        "0xbbA60da06c2c5424f03f7434542280FCAd453d10",
        "USDC",
        6,
        Some("USDC"),
        None,
        E,
    ),
    (
        "eip155:143",
        "0x754704Bc059F8C67012fEd69BC8A327a5aafb603",
        "USDC",
        6,
        Some("USDC"),
        Some("2"),
        E,
    ),
    (
        "eip155:988",
        "0x779Ded0c9e1022225f8E0630b35a9b54bE713736",
        "USDT0",
        6,
        Some("USDT0"),
        Some("1"),
        E,
    ),
    (
        "eip155:2201",
        "0x78Cf24370174180738C5B8E352B6D14c83a6c9A9",
        "USDT0",
        6,
        Some("USDT0"),
        Some("1"),
        E,
    ),
    (
        "eip155:4326",
        "0xFAfDdbb3FC7688494971a79cc65DCa3EF82079E7",
        "MegaUSD",
        18,
        Some("MegaUSD"),
        Some("1"),
        TransferMethod::Permit2,
    ),
    (
        "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
        "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        "USDC",
        6,
        None,
        None,
        TransferMethod::SplTransfer,
    ),
    (
        "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
        "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
        "USDC",
        6,
        None,
        None,
        TransferMethod::SplTransfer,
    ),
    (
        "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z",
        "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
        "USDC",
        6,
        None,
        None,
        TransferMethod::SplTransfer,
    ),
];

#[test]
fn assets_per_network() {
    assert_eq!(ASSETS.len(), ASSET_ROWS.len());
    for (net, addr, symbol, decimals, name, version, method) in ASSET_ROWS {
        let n = Network::parse_caip2(net).unwrap();
        let a = asset::lookup(&n, addr).unwrap_or_else(|| panic!("{net} {addr}"));
        assert_eq!(a.symbol, *symbol, "{net}");
        assert_eq!(a.decimals, *decimals, "{net}");
        assert_eq!(a.eip712_name, *name, "{net}");
        assert_eq!(a.eip712_version, *version, "{net}");
        assert_eq!(a.transfer, *method, "{net}");
        assert_eq!(a.network(), n);
        assert_eq!(asset::default_asset(&n), Some(a), "{net}");
        // EVM addresses are found in any case; Solana mints are case-sensitive
        if n.is_evm() {
            assert_eq!(asset::lookup(&n, &addr.to_lowercase()), Some(a));
            assert_eq!(
                asset::lookup(&n, &addr.to_uppercase().replace("0X", "0x")),
                Some(a)
            );
            assert!(matches!(a.parsed_address().unwrap(), Address::Evm(_)));
        } else {
            assert_eq!(asset::lookup(&n, &addr.to_lowercase()), None);
            assert!(matches!(a.parsed_address().unwrap(), Address::Solana(_)));
        }
        // an amount of one whole token formats as "1"
        let one = Amount::parse_units("1", *decimals).unwrap();
        assert_eq!(one.format_units(*decimals), "1");
    }
    // the same address on another network is not that asset
    let base_usdc = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
    assert_eq!(asset::lookup(&Network::eip155(1), base_usdc), None);
}
