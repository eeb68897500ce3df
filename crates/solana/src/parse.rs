//! From one `getTransaction` (jsonParsed) answer to payment rows. Pure.
//!
//! Rules:
//! - a failed transaction (`meta.err` set) gives no rows;
//! - the fee payer is `accountKeys[0]`; a fee payer that no facilitator lists
//!   gives no rows (such transfers are not x402 settlements, and are not stored);
//! - every SPL Token or Token-2022 `transfer`, `transferChecked` or
//!   `transferCheckedWithFee`, top-level or inner, gives one row keyed by
//!   (signature, outer index, inner index): inner index 0 for a top-level
//!   instruction, k + 1 for inner instruction k;
//! - a transfer whose authority is the fee payer itself is the facilitator
//!   moving its own funds, not a settlement, and gives no row;
//! - payer = the transfer authority; pay_to = the owner of the destination token
//!   account (from the token balances; the account itself if no balance names
//!   an owner); asset = the mint; amount exact; nonce = the memo text(s).

use x402scope_core::Amount;
use x402scope_store::Payment;

use crate::tx::{Instruction, TokenBalance, TxResponse};

pub const TOKEN_PROGRAM: &str = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
pub const TOKEN_2022_PROGRAM: &str = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb";
pub const MEMO_PROGRAM: &str = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr";
pub const MEMO_V1_PROGRAM: &str = "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo";

/// Maps a fee payer to the facilitator id that uses it.
pub trait FeePayerLookup: Send + Sync {
    fn facilitator_for(&self, fee_payer: &str) -> Option<String>;
}

impl<F> FeePayerLookup for F
where
    F: Fn(&str) -> Option<String> + Send + Sync,
{
    fn facilitator_for(&self, fee_payer: &str) -> Option<String> {
        self(fee_payer)
    }
}

impl FeePayerLookup for std::collections::HashMap<String, String> {
    fn facilitator_for(&self, fee_payer: &str) -> Option<String> {
        self.get(fee_payer).cloned()
    }
}

/// Why a transaction's answer cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the transaction has no signature")]
    NoSignature,
    #[error("transaction {0}: no account keys")]
    NoAccountKeys(String),
    #[error("transaction {0}: no status metadata (meta is null)")]
    NoMeta(String),
    #[error("transaction {sig}, instruction {outer}/{inner}: {detail}")]
    BadTransfer {
        sig: String,
        outer: u32,
        inner: u32,
        detail: String,
    },
}

/// What one transaction gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Payments(Vec<Payment>),
    Excluded(Exclusion),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusion {
    Failed,
    /// The fee payer is not a known facilitator's.
    NotFacilitator(String),
    /// A facilitator paid the fee, but nothing was transferred for a client.
    NoTransfer,
}

/// One token transfer, as read from an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Transfer {
    method: &'static str,
    source: String,
    destination: String,
    mint: Option<String>,
    authority: String,
    amount: Amount,
}

/// Read `tx` on `chain`; rows get `is_final`.
pub fn parse_transaction(
    tx: &TxResponse,
    chain: &str,
    facilitators: &dyn FeePayerLookup,
    is_final: bool,
) -> Result<Parsed, ParseError> {
    let sig = tx
        .transaction
        .signatures
        .first()
        .ok_or(ParseError::NoSignature)?
        .clone();
    let meta = tx
        .meta
        .as_ref()
        .ok_or_else(|| ParseError::NoMeta(sig.clone()))?;
    if meta.err.as_ref().is_some_and(|e| !e.is_null()) {
        return Ok(Parsed::Excluded(Exclusion::Failed));
    }
    let keys = &tx.transaction.message.account_keys;
    let fee_payer = keys
        .first()
        .ok_or_else(|| ParseError::NoAccountKeys(sig.clone()))?
        .pubkey
        .clone();
    let Some(facilitator) = facilitators.facilitator_for(&fee_payer) else {
        return Ok(Parsed::Excluded(Exclusion::NotFacilitator(fee_payer)));
    };

    // Every instruction with its key, in execution order.
    let mut all: Vec<(u32, u32, &Instruction)> = Vec::new();
    for (i, ix) in tx.transaction.message.instructions.iter().enumerate() {
        let outer = u32::try_from(i).unwrap_or(u32::MAX);
        all.push((outer, 0, ix));
        for inner in meta.inner_instructions.iter().flatten() {
            if inner.index == outer {
                for (k, ix) in inner.instructions.iter().enumerate() {
                    all.push((outer, u32::try_from(k + 1).unwrap_or(u32::MAX), ix));
                }
            }
        }
    }

    let memo = all
        .iter()
        .filter_map(|(_, _, ix)| memo_text(ix))
        .collect::<Vec<_>>()
        .join("\n");
    let balances = Balances {
        keys: keys.iter().map(|k| k.pubkey.as_str()).collect(),
        post: meta.post_token_balances.as_deref().unwrap_or(&[]),
        pre: meta.pre_token_balances.as_deref().unwrap_or(&[]),
    };

    let mut rows = Vec::new();
    for (outer, inner, ix) in all {
        let bad = |detail: String| ParseError::BadTransfer {
            sig: sig.clone(),
            outer,
            inner,
            detail,
        };
        let Some(t) = transfer_of(ix).map_err(bad)? else {
            continue;
        };
        if t.authority == fee_payer {
            continue;
        }
        let mint = match t.mint.clone() {
            Some(m) => m,
            None => balances
                .mint_of(&t.destination)
                .or_else(|| balances.mint_of(&t.source))
                .ok_or_else(|| bad("a transfer whose mint no token balance names".into()))?,
        };
        let pay_to = balances
            .owner_of(&t.destination)
            .unwrap_or_else(|| t.destination.clone());
        rows.push(Payment {
            chain: chain.to_owned(),
            tx_id: sig.clone(),
            idx_outer: outer,
            idx_inner: inner,
            block_number: tx.slot,
            block_hash: String::new(),
            block_time: tx.block_time.unwrap_or(0),
            asset: mint,
            payer: t.authority,
            pay_to,
            amount: t.amount,
            nonce: memo.clone(),
            facilitator: facilitator.clone(),
            tx_from: fee_payer.clone(),
            method: t.method.to_owned(),
            is_final,
            is_organic: true,
        });
    }
    if rows.is_empty() {
        return Ok(Parsed::Excluded(Exclusion::NoTransfer));
    }
    Ok(Parsed::Payments(rows))
}

struct Balances<'a> {
    keys: Vec<&'a str>,
    post: &'a [TokenBalance],
    pre: &'a [TokenBalance],
}

impl Balances<'_> {
    fn find(&self, account: &str) -> impl Iterator<Item = &TokenBalance> {
        self.post.iter().chain(self.pre.iter()).filter(move |b| {
            usize::try_from(b.account_index)
                .ok()
                .and_then(|i| self.keys.get(i))
                .is_some_and(|k| *k == account)
        })
    }

    fn mint_of(&self, account: &str) -> Option<String> {
        self.find(account).next().map(|b| b.mint.clone())
    }

    fn owner_of(&self, account: &str) -> Option<String> {
        self.find(account).find_map(|b| b.owner.clone())
    }
}

fn is_token_program(id: &str) -> bool {
    id == TOKEN_PROGRAM || id == TOKEN_2022_PROGRAM
}

fn memo_text(ix: &Instruction) -> Option<String> {
    if ix.program_id != MEMO_PROGRAM && ix.program_id != MEMO_V1_PROGRAM {
        return None;
    }
    if let Some(serde_json::Value::String(s)) = &ix.parsed {
        return Some(s.clone());
    }
    let bytes = bs58::decode(ix.data.as_deref()?).into_vec().ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The transfer an instruction makes, if it is one. `Err` when it claims to be
/// a transfer but its fields are not readable.
fn transfer_of(ix: &Instruction) -> Result<Option<Transfer>, String> {
    if !is_token_program(&ix.program_id) {
        return Ok(None);
    }
    match &ix.parsed {
        Some(parsed) => parsed_transfer(parsed),
        None => raw_transfer(ix),
    }
}

fn parsed_transfer(parsed: &serde_json::Value) -> Result<Option<Transfer>, String> {
    let Some(kind) = parsed.get("type").and_then(|t| t.as_str()) else {
        return Ok(None);
    };
    let method = match kind {
        "transfer" => "spl_transfer",
        "transferChecked" => "spl_transfer_checked",
        "transferCheckedWithFee" => "spl_transfer_checked_with_fee",
        _ => return Ok(None),
    };
    let info = parsed
        .get("info")
        .ok_or_else(|| format!("{kind} without info"))?;
    let field = |name: &str| -> Result<String, String> {
        info.get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("{kind} without {name}"))
    };
    let authority = field("authority").or_else(|_| field("multisigAuthority"))?;
    let amount_text = if kind == "transfer" {
        info.get("amount").and_then(|v| v.as_str())
    } else {
        info.get("tokenAmount")
            .and_then(|t| t.get("amount"))
            .and_then(|v| v.as_str())
    };
    let amount_text = amount_text.ok_or_else(|| format!("{kind} without an amount"))?;
    let amount = Amount::parse_decimal(amount_text)
        .map_err(|e| format!("{kind} amount {amount_text:?}: {e}"))?;
    Ok(Some(Transfer {
        method,
        source: field("source")?,
        destination: field("destination")?,
        mint: if kind == "transfer" {
            None
        } else {
            Some(field("mint")?)
        },
        authority,
        amount,
    }))
}

/// A token instruction the node left undecoded: `data` in base58.
fn raw_transfer(ix: &Instruction) -> Result<Option<Transfer>, String> {
    let (Some(data), Some(accounts)) = (&ix.data, &ix.accounts) else {
        return Ok(None);
    };
    let bytes = bs58::decode(data)
        .into_vec()
        .map_err(|e| format!("data is not base58: {e}"))?;
    let amount = |b: &[u8]| -> Result<Amount, String> {
        let arr: [u8; 8] = b
            .get(1..9)
            .and_then(|s| s.try_into().ok())
            .ok_or("a transfer's data is shorter than 9 bytes")?;
        Ok(Amount::from_u64(u64::from_le_bytes(arr)))
    };
    let account = |i: usize| -> Result<String, String> {
        accounts
            .get(i)
            .cloned()
            .ok_or_else(|| format!("a transfer without account {i}"))
    };
    match bytes.first() {
        Some(3) => Ok(Some(Transfer {
            method: "spl_transfer",
            source: account(0)?,
            destination: account(1)?,
            mint: None,
            authority: account(2)?,
            amount: amount(&bytes)?,
        })),
        Some(12) => Ok(Some(Transfer {
            method: "spl_transfer_checked",
            source: account(0)?,
            mint: Some(account(1)?),
            destination: account(2)?,
            authority: account(3)?,
            amount: amount(&bytes)?,
        })),
        _ => Ok(None),
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
