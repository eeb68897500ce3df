//! From the logs and senders of a block range to x402 payments. Pure.
//!
//! `AuthorizationUsed` is not unique to x402 (apps use `receiveWithAuthorization`
//! too), so a pair counts as an x402 settlement when:
//! - the transaction sender is a known facilitator; or
//! - the sender is unknown, but the transaction has the facilitator's shape: it
//!   is not a `receiveWithAuthorization` called on the token, and the sender is
//!   not the payee pulling its own funds. Such rows keep `facilitator = None`:
//!   they are candidates for the registry.

use std::collections::{BTreeMap, HashMap, HashSet};

use alloy_primitives::{Address, B256};

use crate::pairing::{self, LogRecord, TokenEvent};
use crate::types::{EvmPayment, FacilitatorLookup, TxInfo};

/// `receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)`.
pub const RECEIVE_WITH_AUTHORIZATION: [u8; 4] = [0xef, 0x55, 0xbe, 0xc6];

/// A log with its position on the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLog {
    pub block_number: u64,
    pub block_hash: B256,
    pub tx_hash: B256,
    pub log: LogRecord,
}

/// Why a range could not be turned into payments: the RPC's answer does not
/// hold together. The caller retries (another provider, a smaller range).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Decode(#[from] pairing::DecodeError),
    #[error("transaction {0} has a settlement but its sender was not fetched")]
    MissingTx(B256),
    #[error("block {0} has a settlement but its time was not fetched")]
    MissingBlockTime(u64),
    #[error("transaction {tx} appears in blocks {a} and {b}")]
    TxInTwoBlocks { tx: B256, a: u64, b: u64 },
}

/// The transactions whose senders [`scan`] needs: those with an `AuthorizationUsed`.
pub fn txs_needing_sender(logs: &[ChainLog]) -> Vec<B256> {
    let mut seen = HashSet::new();
    logs.iter()
        .filter(|l| l.log.topics.first() == Some(&pairing::AUTHORIZATION_USED))
        .filter(|l| seen.insert(l.tx_hash))
        .map(|l| l.tx_hash)
        .collect()
}

/// The blocks whose times [`scan`] needs.
pub fn blocks_needing_time(logs: &[ChainLog]) -> Vec<u64> {
    let set: std::collections::BTreeSet<u64> = logs
        .iter()
        .filter(|l| l.log.topics.first() == Some(&pairing::AUTHORIZATION_USED))
        .map(|l| l.block_number)
        .collect();
    set.into_iter().collect()
}

/// Turn a range's logs of watched tokens into x402 payments, in chain order.
pub fn scan(
    chain_id: u64,
    logs: &[ChainLog],
    txs: &HashMap<B256, TxInfo>,
    block_times: &HashMap<u64, u64>,
    facilitators: &dyn FacilitatorLookup,
) -> Result<Vec<EvmPayment>, ScanError> {
    // Group by transaction, keeping chain order.
    let mut by_tx: BTreeMap<(u64, B256), (B256, Vec<TokenEvent>)> = BTreeMap::new();
    let mut tx_block: HashMap<B256, u64> = HashMap::new();
    for l in logs {
        if let Some(&other) = tx_block.get(&l.tx_hash)
            && other != l.block_number
        {
            return Err(ScanError::TxInTwoBlocks {
                tx: l.tx_hash,
                a: other,
                b: l.block_number,
            });
        }
        tx_block.insert(l.tx_hash, l.block_number);
        if let Some(event) = pairing::decode(&l.log)? {
            by_tx
                .entry((l.block_number, l.tx_hash))
                .or_insert_with(|| (l.block_hash, Vec::new()))
                .1
                .push(event);
        }
    }
    let mut out = Vec::new();
    let mut ordered: Vec<_> = by_tx.into_iter().collect();
    // Within a block, order transactions by their first log index.
    ordered.sort_by_key(|((block, _), (_, events))| (*block, first_log_index(events)));
    for ((block_number, tx_hash), (block_hash, events)) in ordered {
        let paired = pairing::pair(&events);
        if paired.settlements.is_empty() {
            continue;
        }
        let tx = txs.get(&tx_hash).ok_or(ScanError::MissingTx(tx_hash))?;
        let block_time = *block_times
            .get(&block_number)
            .ok_or(ScanError::MissingBlockTime(block_number))?;
        let facilitator = facilitators.facilitator_for(chain_id, tx.from);
        for s in paired.settlements {
            if facilitator.is_none() && !unknown_sender_is_x402(tx, s.token, s.pay_to) {
                continue;
            }
            out.push(EvmPayment {
                chain_id,
                tx_hash,
                log_index: s.log_index,
                block_number,
                block_hash,
                block_time,
                asset: s.token,
                payer: s.payer,
                pay_to: s.pay_to,
                amount: s.amount,
                nonce: s.nonce,
                tx_from: tx.from,
                facilitator: facilitator.clone(),
                is_final: false,
            });
        }
    }
    Ok(out)
}

fn first_log_index(events: &[TokenEvent]) -> u64 {
    events
        .iter()
        .map(|e| match e {
            TokenEvent::AuthorizationUsed { log_index, .. }
            | TokenEvent::Transfer { log_index, .. } => *log_index,
        })
        .min()
        .unwrap_or(0)
}

/// An unknown sender's settlement is x402-shaped unless it is the payee
/// collecting through `receiveWithAuthorization` (directly, or as a contract).
fn unknown_sender_is_x402(tx: &TxInfo, token: Address, pay_to: Address) -> bool {
    let receive_on_token = tx.to == Some(token) && tx.selector == Some(RECEIVE_WITH_AUTHORIZATION);
    let payee_collects = pay_to == tx.from || Some(pay_to) == tx.to;
    !receive_on_token && !payee_collects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pairing::{AUTHORIZATION_USED, TRANSFER};
    use alloy_primitives::{U256, address};

    const USDC: Address = address!("833589fCD6eDb6E08f4c7C32D4f71b54bdA02913");
    const FAC: Address = address!("fac0000000000000000000000000000000000001");
    const STRANGER: Address = address!("5700000000000000000000000000000000000002");
    const PAYER: Address = address!("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    const PAYEE: Address = address!("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    const BATCHER: Address = address!("0000000000000000000000000000000000b47c40");
    const TRANSFER_WITH_AUTHORIZATION: [u8; 4] = [0xe3, 0xee, 0x16, 0x0e];

    fn lookup(_chain: u64, a: Address) -> Option<String> {
        (a == FAC).then(|| "fac".to_owned())
    }

    fn tx(n: u8) -> B256 {
        B256::repeat_byte(n)
    }

    fn settlement_logs(block: u64, t: B256, first_index: u64) -> Vec<ChainLog> {
        vec![
            ChainLog {
                block_number: block,
                block_hash: B256::repeat_byte(0xb0),
                tx_hash: t,
                log: LogRecord {
                    address: USDC,
                    log_index: first_index,
                    topics: vec![AUTHORIZATION_USED, PAYER.into_word(), B256::repeat_byte(9)],
                    data: vec![],
                },
            },
            ChainLog {
                block_number: block,
                block_hash: B256::repeat_byte(0xb0),
                tx_hash: t,
                log: LogRecord {
                    address: USDC,
                    log_index: first_index + 1,
                    topics: vec![TRANSFER, PAYER.into_word(), PAYEE.into_word()],
                    data: U256::from(1000).to_be_bytes::<32>().to_vec(),
                },
            },
        ]
    }

    /// (sender, to, selector) → counted as x402, and with which facilitator.
    #[test]
    fn attribution_table() {
        // (sender, tx.to, selector, expected: None = not x402, Some(facilitator id))
        type Case<'a> = (Address, Option<Address>, [u8; 4], Option<Option<&'a str>>);
        let cases: &[Case<'_>] = &[
            (
                FAC,
                Some(USDC),
                TRANSFER_WITH_AUTHORIZATION,
                Some(Some("fac")),
            ),
            // a known facilitator counts whatever it called
            (FAC, Some(BATCHER), [1, 2, 3, 4], Some(Some("fac"))),
            (
                FAC,
                Some(USDC),
                RECEIVE_WITH_AUTHORIZATION,
                Some(Some("fac")),
            ),
            // unknown sender, facilitator-shaped: a candidate
            (
                STRANGER,
                Some(USDC),
                TRANSFER_WITH_AUTHORIZATION,
                Some(None),
            ),
            (STRANGER, Some(BATCHER), [1, 2, 3, 4], Some(None)),
            // unknown sender calling receiveWithAuthorization: not x402
            (STRANGER, Some(USDC), RECEIVE_WITH_AUTHORIZATION, None),
            // the payee itself collecting: not x402
            (PAYEE, Some(USDC), TRANSFER_WITH_AUTHORIZATION, None),
            // a payee contract collecting: not x402
            (STRANGER, Some(PAYEE), [1, 2, 3, 4], None),
        ];
        for (from, to, selector, expected) in cases {
            let t = tx(1);
            let logs = settlement_logs(10, t, 3);
            let txs = HashMap::from([(
                t,
                TxInfo {
                    from: *from,
                    to: *to,
                    selector: Some(*selector),
                },
            )]);
            let times = HashMap::from([(10, 1_700_000_000)]);
            let got = scan(8453, &logs, &txs, &times, &lookup).unwrap();
            match expected {
                None => assert!(got.is_empty(), "{from} {to:?} {selector:?}: {got:?}"),
                Some(fac) => {
                    assert_eq!(got.len(), 1, "{from} {to:?} {selector:?}");
                    assert_eq!(got[0].facilitator.as_deref(), *fac);
                    assert_eq!(got[0].tx_from, *from);
                    assert_eq!(got[0].payer, PAYER);
                    assert_eq!(got[0].pay_to, PAYEE);
                    assert_eq!(got[0].amount, U256::from(1000));
                    assert_eq!(got[0].log_index, 3);
                    assert_eq!(got[0].block_time, 1_700_000_000);
                }
            }
        }
    }

    #[test]
    fn payments_come_out_in_chain_order_and_missing_facts_are_errors() {
        let mut logs = settlement_logs(11, tx(2), 0);
        logs.extend(settlement_logs(10, tx(1), 5));
        logs.extend(settlement_logs(10, tx(3), 1));
        let info = TxInfo {
            from: FAC,
            to: Some(USDC),
            selector: None,
        };
        let txs = HashMap::from([(tx(1), info), (tx(2), info), (tx(3), info)]);
        let times = HashMap::from([(10, 1), (11, 2)]);
        let got = scan(1, &logs, &txs, &times, &lookup).unwrap();
        let order: Vec<_> = got.iter().map(|p| (p.block_number, p.log_index)).collect();
        assert_eq!(order, vec![(10, 1), (10, 5), (11, 0)]);
        assert_eq!(txs_needing_sender(&logs).len(), 3);
        assert_eq!(blocks_needing_time(&logs), vec![10, 11]);

        let txs_missing = HashMap::from([(tx(1), info), (tx(3), info)]);
        assert_eq!(
            scan(1, &logs, &txs_missing, &times, &lookup),
            Err(ScanError::MissingTx(tx(2)))
        );
        let times_missing = HashMap::from([(10, 1)]);
        assert_eq!(
            scan(1, &logs, &txs, &times_missing, &lookup),
            Err(ScanError::MissingBlockTime(11))
        );
        let mut lying = settlement_logs(10, tx(1), 0);
        lying.extend(settlement_logs(12, tx(1), 7));
        assert!(matches!(
            scan(1, &lying, &txs, &times, &lookup),
            Err(ScanError::TxInTwoBlocks { .. })
        ));
    }
}
