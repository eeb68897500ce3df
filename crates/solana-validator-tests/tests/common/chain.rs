//! One in-process `solana-test-validator` per test binary, and the scenario
//! the tests index: x402-shaped transactions (compute budget, TransferChecked,
//! memo; partially signed by the client, completed by the facilitator's fee
//! payer), a transaction with two transfers, a Token-2022 transfer, a transfer
//! made by a program (an inner instruction), a failed transaction and a
//! transfer whose fee payer is not a facilitator.
//!
//! The scenario is submitted once and waited on until every transaction is
//! finalized; [`chain`] hands the tests its RPC URL and the rows it must give.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_config::RpcSendTransactionConfig;
use solana_commitment_config::CommitmentConfig;
use solana_hash::Hash;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_message::{VersionedMessage, v0};
use solana_program_pack::Pack;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_test_validator::TestValidatorGenesis;
use solana_transaction::versioned::VersionedTransaction;
use x402scope_core::Amount;
use x402scope_store::Payment;

pub const FACILITATOR_ID: &str = "test-facilitator";
const MEMO: Pubkey = solana_pubkey::pubkey!("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");
const COMPUTE_BUDGET: Pubkey =
    solana_pubkey::pubkey!("ComputeBudget111111111111111111111111111111");
const TOKEN_2022: Pubkey = solana_pubkey::pubkey!("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");

/// What the tests index and what they must find.
#[derive(Debug, Clone)]
pub struct Chain {
    pub rpc_url: String,
    /// CAIP-2 id of the local cluster.
    pub network: String,
    pub facilitator: String,
    /// The facilitator's fee payer and the main payee's token account.
    pub watched: Vec<String>,
    /// Every x402 transfer, sorted by (tx_id, idx_outer, idx_inner).
    pub expected: Vec<Payment>,
    /// The failed transaction and the non-facilitator one: no rows.
    pub excluded: Vec<String>,
}

/// The shared chain, started on first use.
pub fn chain() -> &'static Chain {
    static CHAIN: OnceLock<Result<Chain, String>> = OnceLock::new();
    CHAIN
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            // The validator lives on its own runtime in a thread that never
            // ends, so that every test (each on its own runtime) can use it.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let (validator, faucet) = start().await;
                    let chain = build(&validator.rpc_url(), &faucet).await;
                    let _ = tx.send(Ok(chain));
                    let _keep = validator;
                    std::future::pending::<()>().await;
                });
            });
            rx.recv().unwrap_or_else(|e| Err(e.to_string()))
        })
        .as_ref()
        .expect("the test validator did not start")
}

/// A base port with the next 100 ports free (TCP and UDP), away from the
/// default test range 2000–2025, which another service here holds.
fn free_port_range() -> u16 {
    let free = |p: u16| {
        std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
            && std::net::UdpSocket::bind(("0.0.0.0", p)).is_ok()
    };
    (0..20)
        .map(|i| 21_000 + i * 1_000 + (std::process::id() % 7) as u16 * 100)
        .find(|&base| (base..base + 100).all(free))
        .expect("no free range of 100 ports")
}

async fn start() -> (solana_test_validator::TestValidator, Keypair) {
    let ledger = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("solana-ledger");
    let _ = std::fs::remove_dir_all(&ledger);
    let base = free_port_range();
    TestValidatorGenesis::default()
        .ledger_path(&ledger)
        .port_range((base, base + 100))
        .gossip_port(base)
        .ticks_per_slot(16)
        .rpc_config(solana_rpc::rpc::JsonRpcConfig {
            // getSignaturesForAddress and getTransaction need the history.
            enable_rpc_transaction_history: true,
            enable_extended_tx_metadata_storage: true,
            ..solana_rpc::rpc::JsonRpcConfig::default_for_test()
        })
        .start_async()
        .await
}

fn compute_limit(units: u32) -> Instruction {
    let mut data = vec![2];
    data.extend_from_slice(&units.to_le_bytes());
    Instruction::new_with_bytes(COMPUTE_BUDGET, &data, vec![])
}

fn compute_price(micro_lamports: u64) -> Instruction {
    let mut data = vec![3];
    data.extend_from_slice(&micro_lamports.to_le_bytes());
    Instruction::new_with_bytes(COMPUTE_BUDGET, &data, vec![])
}

fn memo(text: &str) -> Instruction {
    Instruction::new_with_bytes(MEMO, text.as_bytes(), vec![])
}

/// An SPL Token instruction for `program`: Token-2022 shares these layouts.
fn on(program: &Pubkey, mut ix: Instruction) -> Instruction {
    ix.program_id = *program;
    ix
}

fn transfer_checked(
    program: &Pubkey,
    source: &Pubkey,
    mint: &Pubkey,
    destination: &Pubkey,
    authority: &Pubkey,
    amount: u64,
) -> Instruction {
    on(
        program,
        spl_token_interface::instruction::transfer_checked(
            &spl_token_interface::id(),
            source,
            mint,
            destination,
            authority,
            &[],
            amount,
            6,
        )
        .unwrap(),
    )
}

fn ata(wallet: &Pubkey, mint: &Pubkey, program: &Pubkey) -> Pubkey {
    spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
        wallet, mint, program,
    )
}

/// A v0 transaction whose signers sign in turn: the client first (a partial
/// signature), then the fee payer completes it, as an x402 facilitator does.
fn sign_in_turn(
    ixs: &[Instruction],
    fee_payer: &Keypair,
    others: &[&Keypair],
    blockhash: Hash,
) -> VersionedTransaction {
    let message = VersionedMessage::V0(
        v0::Message::try_compile(&fee_payer.pubkey(), ixs, &[], blockhash).unwrap(),
    );
    let signers = usize::from(message.header().num_required_signatures);
    let keys = message.static_account_keys().to_vec();
    let bytes = message.serialize();
    let mut tx = VersionedTransaction {
        signatures: vec![Signature::default(); signers],
        message,
    };
    for k in others.iter().copied().chain(std::iter::once(fee_payer)) {
        let at = keys.iter().position(|p| *p == k.pubkey()).unwrap();
        assert!(at < signers);
        tx.signatures[at] = k.sign_message(&bytes);
    }
    tx
}

async fn send(
    rpc: &RpcClient,
    ixs: &[Instruction],
    fee_payer: &Keypair,
    others: &[&Keypair],
) -> Signature {
    let blockhash = rpc.get_latest_blockhash().await.unwrap();
    let tx = sign_in_turn(ixs, fee_payer, others, blockhash);
    rpc.send_and_confirm_transaction(&tx).await.unwrap()
}

/// Send without preflight, so that a transaction that fails lands (and pays its fee).
async fn send_failing(
    rpc: &RpcClient,
    ixs: &[Instruction],
    fee_payer: &Keypair,
    others: &[&Keypair],
) -> Signature {
    let blockhash = rpc.get_latest_blockhash().await.unwrap();
    let tx = sign_in_turn(ixs, fee_payer, others, blockhash);
    let config = RpcSendTransactionConfig {
        skip_preflight: true,
        ..RpcSendTransactionConfig::default()
    };
    let sig = rpc.send_transaction_with_config(&tx, config).await.unwrap();
    for _ in 0..600 {
        if let Some(Some(s)) = rpc
            .get_signature_statuses(&[sig])
            .await
            .unwrap()
            .value
            .first()
        {
            assert!(s.err.is_some(), "the failing transaction succeeded");
            return sig;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the failing transaction never landed");
}

async fn create_mint(rpc: &RpcClient, faucet: &Keypair, program: &Pubkey) -> Pubkey {
    let mint = Keypair::new();
    let len = spl_token_interface::state::Mint::LEN;
    let rent = rpc
        .get_minimum_balance_for_rent_exemption(len)
        .await
        .unwrap();
    let ixs = [
        solana_system_interface::instruction::create_account(
            &faucet.pubkey(),
            &mint.pubkey(),
            rent,
            len as u64,
            program,
        ),
        on(
            program,
            spl_token_interface::instruction::initialize_mint2(
                &spl_token_interface::id(),
                &mint.pubkey(),
                &faucet.pubkey(),
                None,
                6,
            )
            .unwrap(),
        ),
    ];
    send(rpc, &ixs, faucet, &[&mint]).await;
    mint.pubkey()
}

/// The token account of `wallet` for `mint` (its ATA), created, holding `amount`.
async fn token_account(
    rpc: &RpcClient,
    faucet: &Keypair,
    wallet: &Pubkey,
    mint: &Pubkey,
    program: &Pubkey,
    amount: u64,
) -> Pubkey {
    let account = ata(wallet, mint, program);
    let mut ixs = vec![
        spl_associated_token_account_interface::instruction::create_associated_token_account(
            &faucet.pubkey(),
            wallet,
            mint,
            program,
        ),
    ];
    if amount > 0 {
        ixs.push(on(
            program,
            spl_token_interface::instruction::mint_to(
                &spl_token_interface::id(),
                mint,
                &account,
                &faucet.pubkey(),
                &[],
                amount,
            )
            .unwrap(),
        ));
    }
    send(rpc, &ixs, faucet, &[]).await;
    account
}

/// One expected row, without the slot and time (filled in once final).
struct Want {
    sig: Signature,
    outer: u32,
    inner: u32,
    mint: Pubkey,
    payer: Pubkey,
    pay_to: Pubkey,
    amount: u64,
    memo: String,
}

async fn build(rpc_url: &str, faucet: &Keypair) -> Chain {
    let rpc = RpcClient::new_with_commitment(rpc_url.to_owned(), CommitmentConfig::confirmed());
    let token = spl_token_interface::id();
    let facilitator = Keypair::new();
    let client = Keypair::new();
    let stranger = Keypair::new();
    let wallet = Keypair::new();
    let (payee, payee2) = (Keypair::new().pubkey(), Keypair::new().pubkey());
    let fund: Vec<Instruction> = [&facilitator, &stranger, &wallet]
        .iter()
        .map(|k| {
            solana_system_interface::instruction::transfer(
                &faucet.pubkey(),
                &k.pubkey(),
                10_000_000_000,
            )
        })
        .collect();
    send(&rpc, &fund, faucet, &[]).await;

    // A USDC-like mint (6 decimals) and a Token-2022 one.
    let usdc = create_mint(&rpc, faucet, &token).await;
    let t22 = create_mint(&rpc, faucet, &TOKEN_2022).await;
    let src = token_account(&rpc, faucet, &client.pubkey(), &usdc, &token, 1_000_000_000).await;
    let dst = token_account(&rpc, faucet, &payee, &usdc, &token, 0).await;
    let dst2 = token_account(&rpc, faucet, &payee2, &usdc, &token, 0).await;
    let src22 = token_account(
        &rpc,
        faucet,
        &client.pubkey(),
        &t22,
        &TOKEN_2022,
        1_000_000_000,
    )
    .await;
    let dst22 = token_account(&rpc, faucet, &payee, &t22, &TOKEN_2022, 0).await;

    let mut wants = Vec::new();
    let x402 = |ix: Instruction, memo_text: &str| {
        vec![compute_limit(20_000), compute_price(1), ix, memo(memo_text)]
    };

    // Plain x402 payments: several, so that small pages and restarts have work.
    for i in 0..6u64 {
        let amount = 10_000 + i;
        let memo_text = format!("{:032x}", 0xfeed_0000 + i);
        let sig = send(
            &rpc,
            &x402(
                transfer_checked(&token, &src, &usdc, &dst, &client.pubkey(), amount),
                &memo_text,
            ),
            &facilitator,
            &[&client],
        )
        .await;
        wants.push(Want {
            sig,
            outer: 2,
            inner: 0,
            mint: usdc,
            payer: client.pubkey(),
            pay_to: payee,
            amount,
            memo: memo_text,
        });
    }

    // Two transfers in one transaction: two rows.
    let sig = send(
        &rpc,
        &[
            compute_limit(40_000),
            compute_price(1),
            transfer_checked(&token, &src, &usdc, &dst, &client.pubkey(), 111),
            transfer_checked(&token, &src, &usdc, &dst2, &client.pubkey(), 222),
            memo("two transfers"),
        ],
        &facilitator,
        &[&client],
    )
    .await;
    wants.push(Want {
        sig,
        outer: 2,
        inner: 0,
        mint: usdc,
        payer: client.pubkey(),
        pay_to: payee,
        amount: 111,
        memo: "two transfers".into(),
    });
    wants.push(Want {
        sig,
        outer: 3,
        inner: 0,
        mint: usdc,
        payer: client.pubkey(),
        pay_to: payee2,
        amount: 222,
        memo: "two transfers".into(),
    });

    // Token-2022.
    let sig = send(
        &rpc,
        &x402(
            transfer_checked(&TOKEN_2022, &src22, &t22, &dst22, &client.pubkey(), 333),
            "token-2022",
        ),
        &facilitator,
        &[&client],
    )
    .await;
    wants.push(Want {
        sig,
        outer: 2,
        inner: 0,
        mint: t22,
        payer: client.pubkey(),
        pay_to: payee,
        amount: 333,
        memo: "token-2022".into(),
    });

    // A transfer made by a program: the associated-token-account program's
    // RecoverNested moves the tokens of a nested account (owned by the wallet's
    // own token account) to the wallet by a TransferChecked CPI.
    let owner_mint = create_mint(&rpc, faucet, &token).await;
    let owner_ata = token_account(&rpc, faucet, &wallet.pubkey(), &owner_mint, &token, 0).await;
    token_account(&rpc, faucet, &wallet.pubkey(), &usdc, &token, 0).await;
    token_account(&rpc, faucet, &owner_ata, &usdc, &token, 444).await;
    // RecoverNested (with its CPI) needs more compute than a plain transfer.
    let sig = send(
        &rpc,
        &[
            compute_limit(200_000),
            compute_price(1),
            spl_associated_token_account_interface::instruction::recover_nested(
                &wallet.pubkey(),
                &owner_mint,
                &usdc,
                &token,
            ),
            memo("inner"),
        ],
        &facilitator,
        &[&wallet],
    )
    .await;
    wants.push(Want {
        sig,
        outer: 2,
        inner: 1,
        mint: usdc,
        payer: owner_ata,
        pay_to: wallet.pubkey(),
        amount: 444,
        memo: "inner".into(),
    });

    // A failed transaction: more than the balance.
    let failed = send_failing(
        &rpc,
        &x402(
            transfer_checked(&token, &src, &usdc, &dst, &client.pubkey(), 10_000_000_000),
            "failed",
        ),
        &facilitator,
        &[&client],
    )
    .await;

    // A transfer whose fee payer is not a facilitator.
    let foreign = send(
        &rpc,
        &x402(
            transfer_checked(&token, &src, &usdc, &dst, &client.pubkey(), 555),
            "not x402",
        ),
        &stranger,
        &[&client],
    )
    .await;

    // Wait until everything is finalized (and so visible in the history).
    // One entry per transaction: the two-transfer one has two wants.
    let mut sigs: Vec<Signature> = wants.iter().map(|w| w.sig).collect();
    sigs.extend([failed, foreign]);
    sigs.sort();
    sigs.dedup();
    let mut slots: HashMap<Signature, u64> = HashMap::new();
    for _ in 0..1200 {
        let statuses = rpc.get_signature_statuses(&sigs).await.unwrap().value;
        if statuses.iter().all(|s| {
            s.as_ref()
                .is_some_and(|s| s.satisfies_commitment(CommitmentConfig::finalized()))
        }) {
            for (sig, s) in sigs.iter().zip(statuses) {
                slots.insert(*sig, s.map(|s| s.slot).unwrap_or_default());
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        slots.len(),
        sigs.len(),
        "the scenario was not finalized in time"
    );

    let reference: String = rpc
        .get_genesis_hash()
        .await
        .unwrap()
        .to_string()
        .chars()
        .take(32)
        .collect();
    let network = format!("solana:{reference}");
    let mut expected = Vec::new();
    for w in wants {
        let slot = slots[&w.sig];
        expected.push(Payment {
            chain: network.clone(),
            tx_id: w.sig.to_string(),
            idx_outer: w.outer,
            idx_inner: w.inner,
            block_number: slot,
            block_hash: String::new(),
            block_time: rpc.get_block_time(slot).await.unwrap(),
            asset: w.mint.to_string(),
            payer: w.payer.to_string(),
            pay_to: w.pay_to.to_string(),
            amount: Amount::from_u64(w.amount),
            nonce: w.memo,
            facilitator: FACILITATOR_ID.into(),
            tx_from: facilitator.pubkey().to_string(),
            method: "spl_transfer_checked".into(),
            is_final: true,
            is_organic: true,
        });
    }
    expected.sort_by(|a, b| {
        (&a.tx_id, a.idx_outer, a.idx_inner).cmp(&(&b.tx_id, b.idx_outer, b.idx_inner))
    });
    Chain {
        rpc_url: rpc_url.to_owned(),
        network,
        facilitator: facilitator.pubkey().to_string(),
        watched: vec![facilitator.pubkey().to_string(), dst.to_string()],
        expected,
        excluded: vec![failed.to_string(), foreign.to_string()],
    }
}
