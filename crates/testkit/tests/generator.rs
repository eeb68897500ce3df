//! The settlement generator leaves exactly the settlements it reports on a real
#![allow(clippy::unwrap_used)]
//! anvil chain, plus noise that is not x402.

use std::collections::HashSet;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::sol;
use x402scope_testkit::settlements::{Plan, generate};
use x402scope_testkit::x402::X402Stack;

sol! {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
}

#[tokio::test(flavor = "current_thread")]
async fn generated_settlements_are_on_chain_exactly_as_reported() {
    let stack = X402Stack::start_chain_only().unwrap();
    let plan = Plan::new(60);
    let generated = generate(&stack.info, &plan).await.unwrap();
    assert_eq!(generated.settlements.len(), 60);
    assert!(
        generated.settlements.iter().any(|s| s.in_tx == 3),
        "some transactions batch"
    );
    assert!(
        generated.settlements.iter().any(|s| !s.known_facilitator),
        "one unknown facilitator"
    );
    let senders: HashSet<Address> = generated.settlements.iter().map(|s| s.sender).collect();
    assert_eq!(senders.len(), 4, "3 known facilitators and 1 unknown");

    let provider = ProviderBuilder::new().connect_http(stack.info.rpc.parse().unwrap());
    let token: Address = stack.info.token.parse().unwrap();
    let logs = provider
        .get_logs(
            &Filter::new()
                .address(token)
                .from_block(generated.first_block)
                .to_block(generated.last_block),
        )
        .await
        .unwrap();
    let used: Vec<_> = logs
        .iter()
        .filter_map(|l| l.log_decode::<AuthorizationUsed>().ok())
        .collect();
    // Every settlement, plus the receiveWithAuthorization noise.
    assert_eq!(used.len(), 60 + plan.noise_receives);
    let on_chain: HashSet<(Address, B256)> = used
        .iter()
        .map(|l| (l.inner.authorizer, l.inner.nonce))
        .collect();
    for s in &generated.settlements {
        assert!(
            on_chain.contains(&(s.payer, s.nonce)),
            "settlement {s:?} not on chain"
        );
        let tx = provider
            .get_transaction_receipt(s.tx_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tx.from, s.sender);
        let transfer = tx
            .inner
            .logs()
            .iter()
            .filter_map(|l| l.log_decode::<Transfer>().ok())
            .find(|t| {
                t.inner.from == s.payer && t.inner.to == s.pay_to && t.inner.value == s.amount
            });
        assert!(transfer.is_some(), "no Transfer for {s:?}");
    }
    let total: U256 = generated.total();
    assert!(total > U256::ZERO);
    assert!(generated.last_block >= generated.first_block);
}
