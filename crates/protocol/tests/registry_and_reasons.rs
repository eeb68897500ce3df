//! The facilitator registry (built-in data, lookup by network and address,
//! runtime extension from captured `/supported` replies) and the error-reason
//! normalisation of third-party replies.

use x402scope_core::{FacilitatorRegistry, Network};
use x402scope_protocol::reason::categorize;
use x402scope_protocol::{ErrorCategory, SupportedResponse, VerifyResponse, decode_body};

fn capture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/x402-captures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("capture")
}

#[test]
fn builtin_lookup_by_network_and_address() {
    let reg = FacilitatorRegistry::builtin().expect("builtin registry");
    let base = Network::eip155(8453);
    // stored lower case; found from the EIP-55 form too
    let f = reg
        .lookup_str(&base, "0xdbdf3d8ed80f84c35d01c6c9f9271761bad90ba6")
        .expect("coinbase");
    assert_eq!(f.id, "coinbase");
    let checksummed =
        x402scope_core::EvmAddress::parse("0xdbdf3d8ed80f84c35d01c6c9f9271761bad90ba6")
            .expect("address")
            .to_checksum();
    assert_eq!(
        reg.lookup_str(&base, &checksummed).map(|f| f.id.as_str()),
        Some("coinbase")
    );
    // a key is per network
    assert!(
        reg.lookup_str(
            &Network::eip155(1),
            "0xdbdf3d8ed80f84c35d01c6c9f9271761bad90ba6"
        )
        .is_none()
    );
    let sol = Network::parse_lenient("solana").expect("solana");
    assert_eq!(
        reg.lookup_str(&sol, "34DmdeSbEnng2bmbSj9ActckY49km2HdhiyAwyXZucqP")
            .map(|f| f.id.as_str()),
        Some("anyspend")
    );
    assert!(reg.lookup_str(&base, "not an address").is_none());
}

#[test]
fn wildcard_signers_cover_every_chain_of_the_namespace() {
    let reg = FacilitatorRegistry::builtin().expect("builtin registry");
    let (id, addr) = reg
        .facilitators()
        .iter()
        .find_map(|f| {
            f.signers
                .iter()
                .find(|s| s.network.to_string() == "eip155:*")
                .map(|s| (f.id.clone(), s.address.to_string()))
        })
        .expect("the data has an eip155:* signer");
    for chain in [1, 8453, 84532, 137] {
        assert_eq!(
            reg.lookup_str(&Network::eip155(chain), &addr)
                .map(|f| f.id.clone()),
            Some(id.clone()),
            "{chain}"
        );
    }
    assert!(
        reg.lookup_str(&Network::parse_lenient("solana").expect("net"), &addr)
            .is_none()
    );
}

#[test]
fn extended_from_captured_supported_replies() {
    let mut reg = FacilitatorRegistry::builtin().expect("builtin registry");
    let anvil_key = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
    assert!(reg.lookup_str(&Network::eip155(84532), anvil_key).is_none());

    // TS facilitator: `eip155:*`
    let ts: SupportedResponse =
        decode_body(capture("facilitator-supported.json").as_bytes()).expect("decodes");
    assert_eq!(ts.signer_keys(), [("eip155:*", anvil_key)]);
    let added = reg
        .extend_from_supported(
            "test-ts",
            Some("http://127.0.0.1:4022"),
            ts.signer_keys(),
            Some("2026-11-24"),
        )
        .expect("valid signers");
    assert_eq!(added, 1);
    let f = reg
        .lookup_str(&Network::eip155(84532), anvil_key)
        .expect("now known");
    assert_eq!(
        (f.id.as_str(), f.url.as_deref()),
        ("test-ts", Some("http://127.0.0.1:4022"))
    );
    assert_eq!(f.signers[0].first_seen.as_deref(), Some("2026-11-24"));
    // the same reply again adds nothing
    assert_eq!(
        reg.extend_from_supported("test-ts", None, ts.signer_keys(), None)
            .expect("valid"),
        0
    );

    // x402-rs: one exact network, which wins over the wildcard
    let rs: SupportedResponse =
        decode_body(capture("rust-facilitator-supported.json").as_bytes()).expect("decodes");
    assert_eq!(
        reg.extend_from_supported("test-rs", None, rs.signer_keys(), None)
            .expect("valid"),
        1
    );
    assert_eq!(
        reg.lookup_str(&Network::eip155(84532), &anvil_key.to_lowercase())
            .map(|f| f.id.as_str()),
        Some("test-rs")
    );
    assert_eq!(
        reg.lookup_str(&Network::eip155(8453), anvil_key)
            .map(|f| f.id.as_str()),
        Some("test-ts")
    );

    // SVM fee payers and upto facilitator addresses come from kinds[].extra
    let svm: SupportedResponse = serde_json::from_str(
        r#"{"kinds":[{"x402Version":2,"scheme":"exact","network":"solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
             "extra":{"feePayer":"CKPKJWNdJEqa81x7CkZ14BVPiY6y16Sxs7owznqtWYp5"}},
            {"x402Version":2,"scheme":"upto","network":"eip155:84532",
             "extra":{"facilitatorAddress":"0xd407e409E34E0b9afb99EcCeb609bDbcD5e7f1bf"}}]}"#,
    )
    .expect("decodes");
    assert_eq!(
        reg.extend_from_supported("x402.org", None, svm.signer_keys(), None)
            .expect("valid"),
        2
    );
    assert!(
        reg.lookup_str(
            &Network::parse_lenient("solana-devnet").expect("net"),
            "CKPKJWNdJEqa81x7CkZ14BVPiY6y16Sxs7owznqtWYp5"
        )
        .is_some()
    );

    // a bad key is a typed error and changes nothing
    let before = reg.facilitators().len();
    assert!(
        reg.extend_from_supported("bad", None, [("eip155:*", "0x1234")], None)
            .is_err()
    );
    assert_eq!(reg.facilitators().len(), before);
}

#[test]
fn reasons_keep_the_raw_text_and_normalise() {
    let rows: &[(&str, ErrorCategory)] = &[
        // TS EVM, the spec, x402-rs (from the captures and the digest)
        (
            "invalid_exact_evm_payload_authorization_valid_before",
            ErrorCategory::Expired,
        ),
        (
            "invalid_exact_evm_nonce_already_used",
            ErrorCategory::Replay,
        ),
        ("invalid_payment_expired", ErrorCategory::Expired),
        (
            "permit2_allowance_required",
            ErrorCategory::AllowanceRequired,
        ),
        (
            "accepted_requirements_mismatch",
            ErrorCategory::RequirementsMismatch,
        ),
        // SVM families, matched by pattern
        (
            "invalid_exact_svm_payload_transaction_amount_mismatch",
            ErrorCategory::AmountMismatch,
        ),
        (
            "invalid_exact_solana_payload_mint_mismatch",
            ErrorCategory::AssetMismatch,
        ),
        (
            "invalid_exact_svm_payload_transaction_simulation_failed",
            ErrorCategory::SimulationFailed,
        ),
        (
            "erc20_approval_insufficient_allowance",
            ErrorCategory::AllowanceRequired,
        ),
        ("INSUFFICIENT_FUNDS", ErrorCategory::InsufficientFunds),
        ("something new", ErrorCategory::Other),
    ];
    for (code, cat) in rows {
        assert_eq!(categorize(code), *cat, "{code}");
    }
    let ts: VerifyResponse = serde_json::from_str(
        capture("ts-facilitator-verify-replay.http")
            .split("\r\n\r\n")
            .nth(1)
            .expect("body"),
    )
    .expect("decodes");
    let reason = ts.invalid_reason.expect("reason");
    assert_eq!(
        reason.code(),
        Some("invalid_exact_evm_payload_authorization_valid_before")
    );
    assert_eq!(reason.category(), ErrorCategory::Expired);

    // a vendor that sends an object keeps it, and is still understood
    let v: VerifyResponse = decode_body(
        br#"{"isValid":false,"invalidReason":{"code":"invalid_signature","detail":"x"}}"#,
    )
    .expect("decodes");
    let reason = v.invalid_reason.clone().expect("reason");
    assert_eq!(reason.category(), ErrorCategory::InvalidSignature);
    assert!(reason.0.is_object());
    assert_eq!(
        serde_json::to_string(&v).expect("encodes"),
        r#"{"isValid":false,"invalidReason":{"code":"invalid_signature","detail":"x"}}"#
    );
}
