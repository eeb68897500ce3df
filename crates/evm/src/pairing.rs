//! Pairing each `AuthorizationUsed(authorizer, nonce)` log with its `Transfer`
//! log, within one transaction.
//!
//! FiatToken emits `AuthorizationUsed` and then, from the same call, the
//! `Transfer(from = authorizer, to, value)`. A transaction may settle several
//! authorizations (a facilitator batching through a contract), and may carry
//! other transfers of the same token around them; so each `AuthorizationUsed`
//! takes the first later, unclaimed `Transfer` of the same token whose `from` is
//! its authorizer. Pure and table-tested.

use alloy_primitives::{Address, B256, U256, b256};

/// `AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)`.
pub const AUTHORIZATION_USED: B256 =
    b256!("98de503528ee59b575ef0c0a2576a82497bfc029a5685b209e9ec333479b10a5");
/// `Transfer(address indexed from, address indexed to, uint256 value)`.
pub const TRANSFER: B256 =
    b256!("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");

/// The parts of a log that pairing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The emitting contract (the token).
    pub address: Address,
    pub log_index: u64,
    pub topics: Vec<B256>,
    pub data: Vec<u8>,
}

/// A decoded event of interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEvent {
    AuthorizationUsed {
        token: Address,
        log_index: u64,
        authorizer: Address,
        nonce: B256,
    },
    Transfer {
        token: Address,
        log_index: u64,
        from: Address,
        to: Address,
        value: U256,
    },
}

/// An EIP-3009 settlement found in one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub token: Address,
    /// The `AuthorizationUsed` log's index: the payment's natural key in its tx.
    pub log_index: u64,
    pub transfer_log_index: u64,
    pub payer: Address,
    pub pay_to: Address,
    pub amount: U256,
    pub nonce: B256,
}

/// Why a log of a watched token could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("log {log_index}: {event} has {got} topics, expected {expected}")]
    Topics {
        log_index: u64,
        event: &'static str,
        got: usize,
        expected: usize,
    },
    #[error("log {log_index}: Transfer data is {got} bytes, expected 32")]
    Data { log_index: u64, got: usize },
    #[error("log {log_index}: topic {topic} is not an address (high bytes set)")]
    NotAnAddress { log_index: u64, topic: usize },
}

/// Decode a log into a token event; `Ok(None)` for other events.
pub fn decode(log: &LogRecord) -> Result<Option<TokenEvent>, DecodeError> {
    let Some(topic0) = log.topics.first() else {
        return Ok(None);
    };
    let address_at = |i: usize| -> Result<Address, DecodeError> {
        let word = log.topics[i];
        if word[..12].iter().any(|b| *b != 0) {
            return Err(DecodeError::NotAnAddress {
                log_index: log.log_index,
                topic: i,
            });
        }
        Ok(Address::from_slice(&word[12..]))
    };
    if *topic0 == AUTHORIZATION_USED {
        if log.topics.len() != 3 {
            return Err(DecodeError::Topics {
                log_index: log.log_index,
                event: "AuthorizationUsed",
                got: log.topics.len(),
                expected: 3,
            });
        }
        return Ok(Some(TokenEvent::AuthorizationUsed {
            token: log.address,
            log_index: log.log_index,
            authorizer: address_at(1)?,
            nonce: log.topics[2],
        }));
    }
    if *topic0 == TRANSFER {
        if log.topics.len() != 3 {
            // ERC-721 Transfer has 4 topics; anything else is not our token's event.
            return Err(DecodeError::Topics {
                log_index: log.log_index,
                event: "Transfer",
                got: log.topics.len(),
                expected: 3,
            });
        }
        if log.data.len() != 32 {
            return Err(DecodeError::Data {
                log_index: log.log_index,
                got: log.data.len(),
            });
        }
        return Ok(Some(TokenEvent::Transfer {
            token: log.address,
            log_index: log.log_index,
            from: address_at(1)?,
            to: address_at(2)?,
            value: U256::from_be_slice(&log.data),
        }));
    }
    Ok(None)
}

/// What pairing found in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paired {
    pub settlements: Vec<Settlement>,
    /// `AuthorizationUsed` logs with no matching `Transfer` (a cancelled or
    /// malformed authorization; or a lying RPC). Kept for the caller to report.
    pub unpaired: Vec<TokenEvent>,
}

/// Pair the events of ONE transaction, given in any order.
pub fn pair(events: &[TokenEvent]) -> Paired {
    let mut events: Vec<TokenEvent> = events.to_vec();
    events.sort_by_key(|e| match e {
        TokenEvent::AuthorizationUsed { log_index, .. }
        | TokenEvent::Transfer { log_index, .. } => *log_index,
    });
    let mut claimed = vec![false; events.len()];
    let mut out = Paired::default();
    for (i, event) in events.iter().enumerate() {
        let TokenEvent::AuthorizationUsed {
            token,
            log_index,
            authorizer,
            nonce,
        } = *event
        else {
            continue;
        };
        let found = events.iter().enumerate().skip(i + 1).find(|(j, e)| {
            !claimed[*j]
                && matches!(e, TokenEvent::Transfer { token: t, from, .. } if *t == token && *from == authorizer)
        });
        match found {
            Some((
                j,
                TokenEvent::Transfer {
                    log_index: tl,
                    to,
                    value,
                    ..
                },
            )) => {
                claimed[j] = true;
                out.settlements.push(Settlement {
                    token,
                    log_index,
                    transfer_log_index: *tl,
                    payer: authorizer,
                    pay_to: *to,
                    amount: *value,
                    nonce,
                });
            }
            _ => out.unpaired.push(*event),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    const USDC: Address = address!("833589fCD6eDb6E08f4c7C32D4f71b54bdA02913");
    const OTHER: Address = address!("1111111111111111111111111111111111111111");
    const A: Address = address!("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    const B: Address = address!("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    const C: Address = address!("cccccccccccccccccccccccccccccccccccccccc");

    fn nonce(n: u8) -> B256 {
        B256::repeat_byte(n)
    }
    fn used(i: u64, who: Address, n: u8) -> TokenEvent {
        TokenEvent::AuthorizationUsed {
            token: USDC,
            log_index: i,
            authorizer: who,
            nonce: nonce(n),
        }
    }
    fn transfer(i: u64, from: Address, to: Address, v: u64) -> TokenEvent {
        TokenEvent::Transfer {
            token: USDC,
            log_index: i,
            from,
            to,
            value: U256::from(v),
        }
    }
    fn settled(i: u64, ti: u64, payer: Address, to: Address, v: u64, n: u8) -> Settlement {
        Settlement {
            token: USDC,
            log_index: i,
            transfer_log_index: ti,
            payer,
            pay_to: to,
            amount: U256::from(v),
            nonce: nonce(n),
        }
    }

    #[test]
    fn pairing_table() {
        let cases: Vec<(&str, Vec<TokenEvent>, Vec<Settlement>, usize)> = vec![
            (
                "one settlement",
                vec![used(0, A, 1), transfer(1, A, B, 10)],
                vec![settled(0, 1, A, B, 10, 1)],
                0,
            ),
            (
                "a plain transfer is not a settlement",
                vec![transfer(0, A, B, 10)],
                vec![],
                0,
            ),
            (
                "two settlements in one tx, interleaved",
                vec![
                    used(0, A, 1),
                    transfer(1, A, B, 10),
                    used(2, C, 2),
                    transfer(3, C, B, 20),
                ],
                vec![settled(0, 1, A, B, 10, 1), settled(2, 3, C, B, 20, 2)],
                0,
            ),
            (
                "same payer twice: each takes the next transfer",
                vec![
                    used(5, A, 1),
                    transfer(6, A, B, 10),
                    used(7, A, 2),
                    transfer(8, A, C, 20),
                ],
                vec![settled(5, 6, A, B, 10, 1), settled(7, 8, A, C, 20, 2)],
                0,
            ),
            (
                "noise transfers before and between are skipped",
                vec![
                    transfer(0, B, C, 1),
                    used(1, A, 1),
                    transfer(2, B, A, 2),
                    transfer(3, A, C, 30),
                ],
                vec![settled(1, 3, A, C, 30, 1)],
                0,
            ),
            (
                "logs out of order are sorted first",
                vec![transfer(4, A, B, 10), used(3, A, 1)],
                vec![settled(3, 4, A, B, 10, 1)],
                0,
            ),
            (
                "a transfer before the authorization does not pair",
                vec![transfer(0, A, B, 10), used(1, A, 1)],
                vec![],
                1,
            ),
            (
                "another token's transfer does not pair",
                vec![
                    used(0, A, 1),
                    TokenEvent::Transfer {
                        token: OTHER,
                        log_index: 1,
                        from: A,
                        to: B,
                        value: U256::from(5),
                    },
                ],
                vec![],
                1,
            ),
        ];
        for (name, events, expected, unpaired) in cases {
            let got = pair(&events);
            assert_eq!(got.settlements, expected, "{name}");
            assert_eq!(got.unpaired.len(), unpaired, "{name}");
        }
    }

    fn topic(a: Address) -> B256 {
        a.into_word()
    }

    #[test]
    fn decode_table() {
        let value = U256::from(1234u64).to_be_bytes::<32>().to_vec();
        let ok_used = LogRecord {
            address: USDC,
            log_index: 7,
            topics: vec![AUTHORIZATION_USED, topic(A), nonce(9)],
            data: vec![],
        };
        assert_eq!(decode(&ok_used), Ok(Some(used(7, A, 9))));
        let ok_transfer = LogRecord {
            address: USDC,
            log_index: 8,
            topics: vec![TRANSFER, topic(A), topic(B)],
            data: value.clone(),
        };
        assert_eq!(decode(&ok_transfer), Ok(Some(transfer(8, A, B, 1234))));
        let other = LogRecord {
            address: USDC,
            log_index: 1,
            topics: vec![nonce(3)],
            data: vec![],
        };
        assert_eq!(decode(&other), Ok(None));
        let anonymous = LogRecord {
            address: USDC,
            log_index: 1,
            topics: vec![],
            data: vec![],
        };
        assert_eq!(decode(&anonymous), Ok(None));
        let short = LogRecord {
            address: USDC,
            log_index: 2,
            topics: vec![TRANSFER, topic(A)],
            data: value.clone(),
        };
        assert!(matches!(
            decode(&short),
            Err(DecodeError::Topics { got: 2, .. })
        ));
        let nft = LogRecord {
            address: USDC,
            log_index: 2,
            topics: vec![TRANSFER, topic(A), topic(B), nonce(1)],
            data: vec![],
        };
        assert!(matches!(
            decode(&nft),
            Err(DecodeError::Topics { got: 4, .. })
        ));
        let bad_data = LogRecord {
            address: USDC,
            log_index: 3,
            topics: vec![TRANSFER, topic(A), topic(B)],
            data: vec![1, 2],
        };
        assert_eq!(
            decode(&bad_data),
            Err(DecodeError::Data {
                log_index: 3,
                got: 2
            })
        );
        let dirty = LogRecord {
            address: USDC,
            log_index: 4,
            topics: vec![AUTHORIZATION_USED, nonce(0xff), nonce(1)],
            data: vec![],
        };
        assert_eq!(
            decode(&dirty),
            Err(DecodeError::NotAnAddress {
                log_index: 4,
                topic: 1
            })
        );
    }
}
