//! The test environment talks for real: anvil, the reference x402 server and
//! client, and the facilitator that settles on anvil.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too
#![allow(clippy::too_many_arguments)] // sol!-generated bindings

use std::time::Duration;

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::{SolStruct, eip712_domain};
use base64::Engine;
use x402scope_testkit::x402::X402Stack;

sol! {
    #[sol(rpc)]
    interface ITestUsdc {
        event Transfer(address indexed from, address indexed to, uint256 value);
        event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
        function balanceOf(address owner) external view returns (uint256);
        function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external;
    }

    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "current_thread")]
async fn anvil_settles_a_transfer_with_authorization_signed_with_alloy() {
    let stack = X402Stack::start_chain_only().unwrap();
    let info = &stack.info;
    let token: Address = info.token.parse().unwrap();
    let payer: PrivateKeySigner = info.accounts.payer.key.parse().unwrap();
    let facilitator: PrivateKeySigner = info.accounts.facilitator.key.parse().unwrap();
    let payee: Address = info.accounts.payee.address.parse().unwrap();
    let facilitator_address = facilitator.address();

    // The payer signs an EIP-3009 authorization offline, as an x402 client does.
    let nonce = keccak256(b"x402scope environment test nonce");
    let value = U256::from(12_345u64);
    let auth = TransferWithAuthorization {
        from: payer.address(),
        to: payee,
        value,
        validAfter: U256::from(now_secs() - 600),
        validBefore: U256::from(now_secs() + 3600),
        nonce,
    };
    let domain = eip712_domain! {
        name: "USDC",
        version: "2",
        chain_id: info.chain_id,
        verifying_contract: token,
    };
    let signature = payer
        .sign_hash_sync(&auth.eip712_signing_hash(&domain))
        .unwrap();

    // The facilitator submits it.
    let provider = ProviderBuilder::new()
        .wallet(facilitator)
        .connect_http(info.rpc.parse().unwrap());
    let usdc = ITestUsdc::new(token, &provider);
    let receipt = usdc
        .transferWithAuthorization(
            auth.from,
            auth.to,
            auth.value,
            auth.validAfter,
            auth.validBefore,
            auth.nonce,
            27 + u8::from(signature.v()),
            B256::from(signature.r()),
            B256::from(signature.s()),
        )
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status(), "transferWithAuthorization reverted");
    assert_eq!(receipt.from, facilitator_address);

    // Read both logs back and check every field.
    let tx_hash = receipt.transaction_hash;
    let logs = provider
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(token)
                .from_block(receipt.block_number.unwrap())
                .to_block(receipt.block_number.unwrap()),
        )
        .await
        .unwrap();
    let logs: Vec<_> = logs
        .into_iter()
        .filter(|l| l.transaction_hash == Some(tx_hash))
        .collect();
    assert_eq!(logs.len(), 2, "one AuthorizationUsed and one Transfer");
    let used = logs[0]
        .log_decode::<ITestUsdc::AuthorizationUsed>()
        .unwrap();
    assert_eq!(
        logs[0].topics()[0].to_string(),
        "0x98de503528ee59b575ef0c0a2576a82497bfc029a5685b209e9ec333479b10a5"
    );
    assert_eq!(used.inner.authorizer, payer.address());
    assert_eq!(used.inner.nonce, nonce);
    let transfer = logs[1].log_decode::<ITestUsdc::Transfer>().unwrap();
    assert_eq!(transfer.inner.from, payer.address());
    assert_eq!(transfer.inner.to, payee);
    assert_eq!(transfer.inner.value, value);
    assert_eq!(logs[1].log_index, logs[0].log_index.map(|i| i + 1));
    assert_eq!(usdc.balanceOf(payee).call().await.unwrap(), value);
}

#[tokio::test(flavor = "current_thread")]
async fn reference_express_server_answers_402_with_a_decodable_payment_required_header() {
    let stack = X402Stack::start().unwrap();
    let response = reqwest::Client::new()
        .get(stack.paid_url().unwrap())
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 402);
    let header = response
        .headers()
        .get("payment-required")
        .expect("PAYMENT-REQUIRED header");
    let json = base64::engine::general_purpose::STANDARD
        .decode(header.as_bytes())
        .unwrap();
    let required: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(required["x402Version"], 2);
    assert_eq!(required["resource"]["url"], stack.paid_url().unwrap());
    let accepts = required["accepts"].as_array().unwrap();
    assert_eq!(accepts.len(), 1);
    let accept = &accepts[0];
    assert_eq!(accept["scheme"], "exact");
    assert_eq!(accept["network"], "eip155:84532");
    assert_eq!(accept["amount"], "1000");
    assert_eq!(accept["asset"], stack.info.token);
    assert_eq!(accept["payTo"], stack.info.accounts.payee.address);
    assert_eq!(accept["extra"]["name"], "USDC");
    assert_eq!(accept["extra"]["version"], "2");
}

#[tokio::test(flavor = "current_thread")]
async fn reference_client_pays_and_the_settlement_is_on_chain() {
    let stack = X402Stack::start().unwrap();
    let paid = stack.pay(stack.paid_url().unwrap()).unwrap();
    assert_eq!(paid.status, 200, "body: {}", paid.body);
    assert!(paid.body.contains("sunny"));
    let settlement = paid.payment_response.expect("PAYMENT-RESPONSE header");
    assert_eq!(settlement["success"], true);
    assert_eq!(settlement["network"], "eip155:84532");
    assert_eq!(settlement["payer"], stack.info.accounts.payer.address);
    let tx: B256 = settlement["transaction"].as_str().unwrap().parse().unwrap();

    let provider = ProviderBuilder::new().connect_http(stack.info.rpc.parse().unwrap());
    let receipt = provider
        .get_transaction_receipt(tx)
        .await
        .unwrap()
        .expect("receipt on chain");
    assert!(receipt.status());
    let facilitator: Address = stack.info.accounts.facilitator.address.parse().unwrap();
    assert_eq!(
        receipt.from, facilitator,
        "the facilitator key sent the settlement"
    );
    let token: Address = stack.info.token.parse().unwrap();
    assert_eq!(receipt.to, Some(token));
    let logs = receipt.inner.logs();
    let used = logs
        .iter()
        .find_map(|l| l.log_decode::<ITestUsdc::AuthorizationUsed>().ok())
        .expect("AuthorizationUsed log");
    assert_eq!(
        used.inner.authorizer,
        stack
            .info
            .accounts
            .payer
            .address
            .parse::<Address>()
            .unwrap()
    );
    let transfer = logs
        .iter()
        .find_map(|l| l.log_decode::<ITestUsdc::Transfer>().ok())
        .expect("Transfer log");
    assert_eq!(
        transfer.inner.to,
        stack
            .info
            .accounts
            .payee
            .address
            .parse::<Address>()
            .unwrap()
    );
    assert_eq!(transfer.inner.value, U256::from(1000u64));
}

#[test]
fn dropping_the_stack_stops_every_process() {
    let stack = X402Stack::start().unwrap();
    let pids = stack.pids();
    for pid in pids {
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
    drop(stack);
    // Killed and reaped in Drop: the pids are gone (or at worst recycled as zombies of nobody).
    std::thread::sleep(Duration::from_millis(100));
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(stat.is_empty(), "process {pid} still exists: {stat}");
    }
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, clickhouse::Row)]
struct Probe {
    id: u32,
    name: String,
}

#[tokio::test(flavor = "current_thread")]
async fn clickhouse_creates_a_table_inserts_and_selects() {
    let db = x402scope_testkit::clickhouse::fresh_database("environment").unwrap();
    // 18.16 knows neither RowBinaryWithNamesAndTypes nor schema validation.
    let client = clickhouse::Client::default()
        .with_url(&db.url)
        .with_database(&db.name)
        .with_validation(false);
    client
        .query("CREATE TABLE probe (id UInt32, name String) ENGINE = MergeTree ORDER BY id")
        .execute()
        .await
        .unwrap();
    let mut insert = client.insert::<Probe>("probe").await.unwrap();
    for id in 0..1000u32 {
        insert
            .write(&Probe {
                id,
                name: format!("row-{id}"),
            })
            .await
            .unwrap();
    }
    insert.end().await.unwrap();
    let count: u64 = client
        .query("SELECT count() FROM probe")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(count, 1000);
    let row: Probe = client
        .query("SELECT id, name FROM probe WHERE id = ?")
        .bind(777u32)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(
        row,
        Probe {
            id: 777,
            name: "row-777".into()
        }
    );
    let version: String = client.query("SELECT version()").fetch_one().await.unwrap();
    assert!(!version.is_empty());
}

#[test]
fn a_private_clickhouse_server_stops_and_restarts_with_its_data() {
    use x402scope_testkit::clickhouse::{ClickHouseServer, execute};
    let mut server = ClickHouseServer::start().unwrap();
    let url = server.http_url();
    execute(
        &url,
        "CREATE TABLE default.t (x UInt8) ENGINE = MergeTree ORDER BY x",
    )
    .unwrap();
    execute(&url, "INSERT INTO default.t VALUES (1), (2)").unwrap();
    server.stop();
    assert!(
        execute(&url, "SELECT 1").is_err(),
        "stopped means unreachable"
    );
    server.restart().unwrap();
    assert_eq!(
        execute(&url, "SELECT count() FROM default.t")
            .unwrap()
            .trim(),
        "2"
    );
}
