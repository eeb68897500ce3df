//! EIP-3009 EIP-712: the spec vector (x402-protocol.md §8), the domain
//! separators of the digest's table, and recovery of the captured payments.

use alloy_primitives::{Address, B256, address, b256};
use alloy_sol_types::SolStruct;
use x402scope_protocol::eip712::{
    Eip712Error, TransferWithAuthorization, domain_of, recover_authorization_signer,
    recover_signer, token_domain,
};
use x402scope_protocol::payload::Eip3009Authorization;
use x402scope_protocol::{PaymentPayload, decode_body};

const BASE_SEPOLIA_USDC: Address = address!("0x036CbD53842c5426634e7929541eC2318f3dCF7e");

/// The signed example of `specs/transports-v2/http.md`.
fn spec_authorization() -> Eip3009Authorization {
    serde_json::from_str(
        r#"{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66",
            "to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
            "value":"10000","validAfter":"1740672089","validBefore":"1740672154",
            "nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}"#,
    )
    .expect("authorization")
}
const SPEC_SIGNATURE: &str = "0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c";

#[test]
fn spec_vector() {
    let msg = TransferWithAuthorization::try_from(&spec_authorization()).expect("valid");
    let domain = token_domain("USDC", "2", 84532, BASE_SEPOLIA_USDC);
    assert_eq!(
        TransferWithAuthorization::eip712_type_hash(&msg),
        b256!("0x7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267")
    );
    assert_eq!(
        msg.struct_hash(),
        b256!("0x49ad644555c7bdf3ea4fc022a4940ae5589b230b1dde0065c5504fa19bbe39a4")
    );
    let digest = msg.digest(&domain);
    assert_eq!(
        digest,
        b256!("0xf256992871671abcb27ff92885a7afa46218724e5fc0bac35d050115aa1d22e6")
    );
    assert_eq!(
        recover_signer(&digest, SPEC_SIGNATURE).expect("recovers"),
        address!("0x857b06519E91e3A54538791bDbb0E22373e36b66")
    );
}

#[test]
fn digest_table_domain_separators() {
    let base = token_domain(
        "USD Coin",
        "2",
        8453,
        address!("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"),
    );
    assert_eq!(
        base.separator(),
        b256!("0x02fa7265e7c5d81118673727957699e4d68f74cd74b7db77da710fe8a2c7834f")
    );
    assert_eq!(
        token_domain("USDC", "2", 84532, BASE_SEPOLIA_USDC).separator(),
        b256!("0x71f17a3b2ff373b803d70a5a07c046c1a2bc8e89c09ef722fcb047abe94c9818")
    );
}

#[test]
fn captured_payments_recover_to_their_payer() {
    for name in [
        "v2-payment-signature.decoded.json",
        "v2-facilitator-verify-request.json",
        "v2-verify-request-used-nonce.json",
    ] {
        let text = std::fs::read_to_string(format!(
            "{}/tests/fixtures/x402-captures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("capture");
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let payload = v.get("paymentPayload").cloned().unwrap_or(v);
        let PaymentPayload::V2(p) =
            decode_body::<PaymentPayload>(payload.to_string().as_bytes()).expect("decodes")
        else {
            panic!("{name}: v2")
        };
        let e = p.payload.eip3009().expect("eip3009");
        let domain = domain_of(&p.accepted).expect("domain");
        let signer =
            recover_authorization_signer(&e.authorization, &e.signature, &domain).expect(name);
        assert_eq!(
            signer,
            address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            "{name}"
        );
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let mut a = spec_authorization();
    a.nonce = "0x1234".into();
    assert!(matches!(
        TransferWithAuthorization::try_from(&a),
        Err(Eip712Error::Field { field: "nonce", .. })
    ));
    let mut a = spec_authorization();
    a.value = "-1".into();
    assert!(matches!(
        TransferWithAuthorization::try_from(&a),
        Err(Eip712Error::Field { field: "value", .. })
    ));
    let mut a = spec_authorization();
    a.to = "0x12".into();
    assert!(matches!(
        TransferWithAuthorization::try_from(&a),
        Err(Eip712Error::Field { field: "to", .. })
    ));
    assert_eq!(
        recover_signer(&B256::ZERO, "zz"),
        Err(Eip712Error::SignatureNotHex)
    );
    assert_eq!(
        recover_signer(&B256::ZERO, "0x00"),
        Err(Eip712Error::SignatureLength(1))
    );
    let zero_sig = format!("0x{}", "00".repeat(65));
    assert!(matches!(
        recover_signer(&B256::ZERO, &zero_sig),
        Err(Eip712Error::Recover(_))
    ));
    // a wrong domain recovers someone else, not an error
    let wrong = token_domain("USD Coin", "2", 84532, BASE_SEPOLIA_USDC);
    let other = recover_authorization_signer(&spec_authorization(), SPEC_SIGNATURE, &wrong)
        .expect("recovers");
    assert_ne!(
        other,
        address!("0x857b06519E91e3A54538791bDbb0E22373e36b66")
    );
}
