//! A settlement generator: N real EIP-3009 settlements on a test chain, signed
//! locally, through several facilitator keys, with noise that is not x402.
//!
//! It is fast because it signs everything itself (no per-transaction wallet
//! round trips), turns automine off, sends raw transactions concurrently, and
//! mines them in a few large blocks. It returns the ground truth for tests and
//! benchmarks to compare against.

use std::collections::HashMap;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy::providers::ext::AnvilApi;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::{SolCall, SolStruct, eip712_domain};
use futures::StreamExt;

use crate::x402::StackInfo;

sol! {
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
    struct ReceiveWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
    function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external;
    function receiveWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external;
    function transfer(address to, uint256 value) external returns (bool);
    function mint(address to, uint256 value) external;
    function run(address token, bytes[] calls) external;
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    /// x402 settlements in total (each one `AuthorizationUsed` + `Transfer`).
    pub settlements: usize,
    pub payers: usize,
    pub payees: usize,
    /// Known facilitator keys: settlements are spread over these and the unknown
    /// ones, round robin.
    pub facilitators: Vec<PrivateKeySigner>,
    /// Extra facilitator keys that no registry lists.
    pub unknown_facilitators: usize,
    /// Every `batch_every`-th transaction settles `batch_size` authorizations at
    /// once through the batcher contract (0 = never).
    pub batch_every: usize,
    pub batch_size: usize,
    /// Plain `transfer` calls by payers (not x402).
    pub noise_transfers: usize,
    /// `receiveWithAuthorization` calls by a payee (not a facilitator; not x402).
    pub noise_receives: usize,
    /// Transactions per mined block.
    pub per_block: usize,
    /// Derives every key and nonce, so a plan always makes the same chain data.
    pub seed: u64,
}

impl Plan {
    /// `n` settlements with sensible defaults: 3 known facilitators (derived from
    /// the seed), 1 unknown, a 3-settlement batch every 10th transaction, and a
    /// little noise.
    pub fn new(n: usize) -> Self {
        Plan {
            settlements: n,
            payers: 20,
            payees: 5,
            facilitators: (0..3).map(|i| derived_key(7, "facilitator", i)).collect(),
            unknown_facilitators: 1,
            batch_every: 10,
            batch_size: 3,
            noise_transfers: (n / 20).max(2),
            noise_receives: (n / 50).max(1),
            per_block: 250,
            seed: 7,
        }
    }
}

/// A settlement the chain now holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedSettlement {
    pub tx_hash: B256,
    /// The transaction sender: the facilitator key that submitted it.
    pub sender: Address,
    /// Whether `sender` is one of the plan's known facilitators.
    pub known_facilitator: bool,
    pub payer: Address,
    pub pay_to: Address,
    pub amount: U256,
    pub nonce: B256,
    /// Settlements in the same transaction (1, or the batch size).
    pub in_tx: usize,
}

/// The ground truth of a generation run.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub settlements: Vec<ExpectedSettlement>,
    /// Transactions that move the token but are not x402 settlements.
    pub noise_txs: Vec<B256>,
    pub unknown_facilitators: Vec<Address>,
    pub known_facilitators: Vec<Address>,
    pub first_block: u64,
    pub last_block: u64,
}

impl Generated {
    /// The sum of all settled amounts.
    pub fn total(&self) -> U256 {
        self.settlements
            .iter()
            .map(|s| s.amount)
            .fold(U256::ZERO, |a, b| a + b)
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("bad stack info: {0}")]
    Info(String),
    #[error("RPC: {0}")]
    Rpc(String),
    #[error("signing: {0}")]
    Sign(String),
    #[error("{0} transactions were not mined")]
    NotMined(usize),
    #[error("transaction {0} reverted")]
    Reverted(B256),
}

fn rpc<E: std::fmt::Display>(e: E) -> GenerateError {
    GenerateError::Rpc(e.to_string())
}

/// A deterministic private key for (seed, role, index).
pub fn derived_key(seed: u64, role: &str, index: usize) -> PrivateKeySigner {
    let mut material = Vec::with_capacity(64);
    material.extend_from_slice(b"x402scope-testkit");
    material.extend_from_slice(&seed.to_be_bytes());
    material.extend_from_slice(role.as_bytes());
    material.extend_from_slice(&(index as u64).to_be_bytes());
    let mut digest = keccak256(&material);
    // A keccak digest is a valid secp256k1 scalar with overwhelming probability;
    // rehash in the negligible other case.
    loop {
        if let Ok(key) = PrivateKeySigner::from_bytes(&digest) {
            return key;
        }
        digest = keccak256(digest);
    }
}

struct Sender {
    key: PrivateKeySigner,
    nonce: u64,
}

struct PendingTx {
    raw: Bytes,
    hash: B256,
}

/// Generate `plan` on the chain of `info` (a stack from [`crate::x402::X402Stack`]).
pub async fn generate(info: &StackInfo, plan: &Plan) -> Result<Generated, GenerateError> {
    let url = info
        .rpc
        .parse()
        .map_err(|e| GenerateError::Info(format!("rpc url: {e}")))?;
    let provider = ProviderBuilder::new().connect_http(url);
    let token: Address = info
        .token
        .parse()
        .map_err(|e| GenerateError::Info(format!("{e}")))?;
    let batcher: Address = info
        .batcher
        .parse()
        .map_err(|e| GenerateError::Info(format!("{e}")))?;
    let chain_id = info.chain_id;
    let domain = eip712_domain! {
        name: "USDC",
        version: "2",
        chain_id: chain_id,
        verifying_contract: token,
    };

    let payers: Vec<PrivateKeySigner> = (0..plan.payers.max(1))
        .map(|i| derived_key(plan.seed, "payer", i))
        .collect();
    let payees: Vec<PrivateKeySigner> = (0..plan.payees.max(1))
        .map(|i| derived_key(plan.seed, "payee", i))
        .collect();
    let unknown: Vec<PrivateKeySigner> = (0..plan.unknown_facilitators)
        .map(|i| derived_key(plan.seed, "unknown-facilitator", i))
        .collect();
    let facilitators: Vec<(PrivateKeySigner, bool)> = plan
        .facilitators
        .iter()
        .cloned()
        .map(|k| (k, true))
        .chain(unknown.iter().cloned().map(|k| (k, false)))
        .collect();
    if facilitators.is_empty() {
        return Err(GenerateError::Info(
            "the plan has no facilitator keys".into(),
        ));
    }

    // Gas money for everyone who sends, and tokens for every payer.
    let eth = U256::from(10u64).pow(U256::from(21u64));
    for addr in facilitators
        .iter()
        .map(|(k, _)| k.address())
        .chain(payers.iter().map(|k| k.address()))
        .chain(payees.iter().map(|k| k.address()))
    {
        provider.anvil_set_balance(addr, eth).await.map_err(rpc)?;
    }
    let first_block = provider.get_block_number().await.map_err(rpc)? + 1;
    provider.anvil_set_auto_mine(false).await.map_err(rpc)?;
    let result = generate_unmined(
        &provider,
        plan,
        &domain,
        token,
        batcher,
        chain_id,
        &payers,
        &payees,
        &facilitators,
        plan.per_block,
    )
    .await;
    // Restore automine even when generation failed half way.
    let mined = match &result {
        Ok((txs, _)) => mine_all(&provider, txs, plan.per_block).await,
        Err(_) => Ok(()),
    };
    provider.anvil_set_auto_mine(true).await.map_err(rpc)?;
    let (_, mut generated) = result?;
    mined?;
    generated.first_block = first_block;
    generated.last_block = provider.get_block_number().await.map_err(rpc)?;
    generated.unknown_facilitators = unknown.iter().map(|k| k.address()).collect();
    generated.known_facilitators = plan.facilitators.iter().map(|k| k.address()).collect();
    Ok(generated)
}

#[allow(clippy::too_many_arguments)]
async fn generate_unmined<P: Provider>(
    provider: &P,
    plan: &Plan,
    domain: &alloy::sol_types::Eip712Domain,
    token: Address,
    batcher: Address,
    chain_id: u64,
    payers: &[PrivateKeySigner],
    payees: &[PrivateKeySigner],
    facilitators: &[(PrivateKeySigner, bool)],
    per_block: usize,
) -> Result<(Vec<PendingTx>, Generated), GenerateError> {
    let mut senders: HashMap<Address, Sender> = HashMap::new();
    for key in facilitators
        .iter()
        .map(|(k, _)| k)
        .chain(payers)
        .chain(payees)
    {
        let nonce = provider
            .get_transaction_count(key.address())
            .await
            .map_err(rpc)?;
        senders.insert(
            key.address(),
            Sender {
                key: key.clone(),
                nonce,
            },
        );
    }
    let mut txs = TxBuilder {
        chain_id,
        senders,
        txs: Vec::new(),
    };
    let mut generated = Generated::default();
    let mut sign =
        |from: Address, to: Address, input: Vec<u8>, gas: u64| txs.sign(from, to, input, gas);

    // Mint first, and mine it, so that no settlement is ordered before its funds.
    let minter = payers[0].address();
    for payer in payers {
        let input = mintCall {
            to: payer.address(),
            value: U256::from(10u64).pow(U256::from(15u64)),
        }
        .abi_encode();
        let hash = sign(minter, token, input, 100_000)?;
        generated.noise_txs.push(hash);
    }
    let mints = txs.take();
    mine_all(provider, &mints, per_block).await?;
    let mut sign =
        |from: Address, to: Address, input: Vec<u8>, gas: u64| txs.sign(from, to, input, gas);

    let valid_before = U256::from(4_000_000_000u64);
    let authorization = |i: usize| -> Result<(ExpectedSettlement, Vec<u8>), GenerateError> {
        let payer = &payers[i % payers.len()];
        let pay_to = payees[(i / payers.len()) % payees.len()].address();
        let amount = U256::from(1_000u64 + (i as u64 * 7_919) % 1_000_000);
        let nonce = keccak256(
            [
                plan.seed.to_be_bytes().as_slice(),
                b"nonce",
                &(i as u64).to_be_bytes(),
            ]
            .concat(),
        );
        let calldata = sign_authorization(domain, payer, pay_to, amount, nonce)?;
        let expected = ExpectedSettlement {
            tx_hash: B256::ZERO,
            sender: Address::ZERO,
            known_facilitator: false,
            payer: payer.address(),
            pay_to,
            amount,
            nonce,
            in_tx: 1,
        };
        Ok((expected, calldata))
    };

    let mut i = 0usize;
    let mut tx_count = 0usize;
    while i < plan.settlements {
        let (facilitator, known) = &facilitators[tx_count % facilitators.len()];
        let batch = plan.batch_every > 0
            && plan.batch_size > 1
            && (tx_count + 1).is_multiple_of(plan.batch_every);
        let n = if batch {
            plan.batch_size.min(plan.settlements - i)
        } else {
            1
        };
        let mut parts = Vec::with_capacity(n);
        for k in 0..n {
            parts.push(authorization(i + k)?);
        }
        let hash = if n == 1 {
            sign(facilitator.address(), token, parts[0].1.clone(), 150_000)?
        } else {
            let calls: Vec<Bytes> = parts.iter().map(|(_, c)| Bytes::from(c.clone())).collect();
            let input = runCall { token, calls }.abi_encode();
            sign(facilitator.address(), batcher, input, 120_000 * n as u64)?
        };
        for (mut expected, _) in parts {
            expected.tx_hash = hash;
            expected.sender = facilitator.address();
            expected.known_facilitator = *known;
            expected.in_tx = n;
            generated.settlements.push(expected);
        }
        i += n;
        tx_count += 1;
    }

    // Noise: plain transfers by payers.
    for j in 0..plan.noise_transfers {
        let payer = &payers[j % payers.len()];
        let to = payees[j % payees.len()].address();
        let input = transferCall {
            to,
            value: U256::from(500u64 + j as u64),
        }
        .abi_encode();
        generated
            .noise_txs
            .push(sign(payer.address(), token, input, 100_000)?);
    }
    // Noise: receiveWithAuthorization submitted by the payee itself.
    for j in 0..plan.noise_receives {
        let payer = &payers[j % payers.len()];
        let payee = &payees[j % payees.len()];
        let nonce = keccak256(
            [
                plan.seed.to_be_bytes().as_slice(),
                b"receive",
                &(j as u64).to_be_bytes(),
            ]
            .concat(),
        );
        let value = U256::from(700u64 + j as u64);
        let message = ReceiveWithAuthorization {
            from: payer.address(),
            to: payee.address(),
            value,
            validAfter: U256::ZERO,
            validBefore: valid_before,
            nonce,
        };
        let sig = payer
            .sign_hash_sync(&message.eip712_signing_hash(domain))
            .map_err(|e| GenerateError::Sign(e.to_string()))?;
        let input = receiveWithAuthorizationCall {
            from: payer.address(),
            to: payee.address(),
            value,
            validAfter: U256::ZERO,
            validBefore: valid_before,
            nonce,
            v: 27 + u8::from(sig.v()),
            r: B256::from(sig.r()),
            s: B256::from(sig.s()),
        }
        .abi_encode();
        generated
            .noise_txs
            .push(sign(payee.address(), token, input, 150_000)?);
    }

    Ok((txs.take(), generated))
}

/// Signs transactions with locally tracked nonces.
struct TxBuilder {
    chain_id: u64,
    senders: HashMap<Address, Sender>,
    txs: Vec<PendingTx>,
}

impl TxBuilder {
    fn sign(
        &mut self,
        from: Address,
        to: Address,
        input: Vec<u8>,
        gas: u64,
    ) -> Result<B256, GenerateError> {
        let sender = self
            .senders
            .get_mut(&from)
            .ok_or_else(|| GenerateError::Info("unknown sender".into()))?;
        let (raw, hash) = sign_tx(&sender.key, self.chain_id, sender.nonce, to, input, gas)?;
        sender.nonce += 1;
        self.txs.push(PendingTx { raw, hash });
        Ok(hash)
    }

    fn take(&mut self) -> Vec<PendingTx> {
        std::mem::take(&mut self.txs)
    }
}

/// Send raw transactions concurrently; with automine off they wait in the pool.
async fn send_all<P: Provider>(provider: &P, txs: &[PendingTx]) -> Result<(), GenerateError> {
    let mut results = futures::stream::iter(
        txs.iter()
            .map(|tx| async move { provider.send_raw_transaction(&tx.raw).await.map(|_| ()) }),
    )
    .buffer_unordered(32);
    while let Some(r) = results.next().await {
        r.map_err(rpc)?;
    }
    Ok(())
}

/// Mine until every transaction has a successful receipt.
async fn mine_all<P: Provider>(
    provider: &P,
    txs: &[PendingTx],
    per_block: usize,
) -> Result<(), GenerateError> {
    // Send `per_block` transactions, mine one block, and so on; then mine until
    // the pool is empty (a block may not fit a whole group's gas).
    for group in txs.chunks(per_block.max(1)) {
        // Full blocks raise the base fee by 1/8 each; keep it at 1 gwei, so that a
        // long run of full blocks (100k settlements) stays under the fixed max fee.
        provider
            .anvil_set_next_block_base_fee_per_gas(1_000_000_000)
            .await
            .map_err(rpc)?;
        send_all(provider, group).await?;
        provider.anvil_mine(Some(1), None).await.map_err(rpc)?;
    }
    for _ in 0..txs.len().max(8) {
        let pool = provider
            .raw_request::<_, serde_json::Value>("txpool_status".into(), ())
            .await
            .map_err(rpc)?;
        let count = |k: &str| {
            pool.get(k)
                .and_then(|v| v.as_str())
                .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
                .unwrap_or(0)
        };
        if count("pending") == 0 && count("queued") == 0 {
            break;
        }
        provider
            .anvil_set_next_block_base_fee_per_gas(1_000_000_000)
            .await
            .map_err(rpc)?;
        provider.anvil_mine(Some(1), None).await.map_err(rpc)?;
    }
    // Every transaction must be mined and successful.
    let mut missing = 0usize;
    let mut receipts = futures::stream::iter(
        txs.iter()
            .map(|tx| async move { (tx.hash, provider.get_transaction_receipt(tx.hash).await) }),
    )
    .buffer_unordered(32);
    while let Some((hash, r)) = receipts.next().await {
        match r.map_err(rpc)? {
            Some(receipt) if receipt.status() => {}
            Some(_) => return Err(GenerateError::Reverted(hash)),
            None => missing += 1,
        }
    }
    if missing > 0 {
        return Err(GenerateError::NotMined(missing));
    }
    Ok(())
}

/// Sign an EIP-1559 call transaction; returns the raw bytes and the hash.
pub fn sign_tx(
    key: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: Address,
    input: Vec<u8>,
    gas: u64,
) -> Result<(Bytes, B256), GenerateError> {
    let mut tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value: U256::ZERO,
        access_list: Default::default(),
        input: input.into(),
    };
    let signature = key
        .sign_transaction_sync(&mut tx)
        .map_err(|e| GenerateError::Sign(e.to_string()))?;
    let envelope = TxEnvelope::from(tx.into_signed(signature));
    let hash = *envelope.tx_hash();
    Ok((envelope.encoded_2718().into(), hash))
}

/// One EIP-3009 authorization, to be settled by some facilitator.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub payer: PrivateKeySigner,
    pub pay_to: Address,
    pub amount: U256,
    pub nonce: B256,
}

/// `transferWithAuthorization` calldata for `auth`, signed by the payer for the
/// token of `info`.
pub fn authorization_calldata(
    info: &StackInfo,
    auth: &Authorization,
) -> Result<Vec<u8>, GenerateError> {
    let token: Address = info
        .token
        .parse()
        .map_err(|e| GenerateError::Info(format!("{e}")))?;
    let domain = eip712_domain! {
        name: "USDC",
        version: "2",
        chain_id: info.chain_id,
        verifying_contract: token,
    };
    sign_authorization(&domain, &auth.payer, auth.pay_to, auth.amount, auth.nonce)
}

/// Sign a `TransferWithAuthorization` (valid from 0 to 4e9) as `payer`, and
/// encode the `transferWithAuthorization` call that settles it.
fn sign_authorization(
    domain: &alloy::sol_types::Eip712Domain,
    payer: &PrivateKeySigner,
    pay_to: Address,
    amount: U256,
    nonce: B256,
) -> Result<Vec<u8>, GenerateError> {
    let valid_before = U256::from(4_000_000_000u64);
    let message = TransferWithAuthorization {
        from: payer.address(),
        to: pay_to,
        value: amount,
        validAfter: U256::ZERO,
        validBefore: valid_before,
        nonce,
    };
    let sig = payer
        .sign_hash_sync(&message.eip712_signing_hash(domain))
        .map_err(|e| GenerateError::Sign(e.to_string()))?;
    Ok(transferWithAuthorizationCall {
        from: payer.address(),
        to: pay_to,
        value: amount,
        validAfter: U256::ZERO,
        validBefore: valid_before,
        nonce,
        v: 27 + u8::from(sig.v()),
        r: B256::from(sig.r()),
        s: B256::from(sig.s()),
    }
    .abi_encode())
}

/// A signed facilitator transaction settling `auth` directly on the token.
pub fn settlement_tx(
    info: &StackInfo,
    facilitator: &PrivateKeySigner,
    tx_nonce: u64,
    auth: &Authorization,
) -> Result<(Bytes, B256), GenerateError> {
    let token: Address = info
        .token
        .parse()
        .map_err(|e| GenerateError::Info(format!("{e}")))?;
    let input = authorization_calldata(info, auth)?;
    sign_tx(facilitator, info.chain_id, tx_nonce, token, input, 150_000)
}
