//! The parts of a `getTransaction` answer (encoding `jsonParsed`) the parser
//! reads. Unknown fields are ignored; fields it needs are required, so a reply
//! that lacks them is a typed decode error, not a guess.

use serde::Deserialize;
use serde_json::Value;

/// `getTransaction` with `encoding: jsonParsed`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxResponse {
    pub slot: u64,
    #[serde(default)]
    pub block_time: Option<i64>,
    pub transaction: TxBody,
    #[serde(default)]
    pub meta: Option<TxMeta>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TxBody {
    pub signatures: Vec<String>,
    pub message: Message,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Static keys then the keys loaded from lookup tables, as the token
    /// balances' `accountIndex` counts them.
    pub account_keys: Vec<AccountKey>,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AccountKey {
    pub pubkey: String,
    #[serde(default)]
    pub signer: bool,
}

/// An instruction: decoded by the node (`parsed`) or left raw (`data`, base58).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instruction {
    #[serde(default)]
    pub program: Option<String>,
    pub program_id: String,
    #[serde(default)]
    pub parsed: Option<Value>,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub accounts: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxMeta {
    #[serde(default)]
    pub err: Option<Value>,
    #[serde(default)]
    pub inner_instructions: Option<Vec<InnerInstructions>>,
    #[serde(default)]
    pub pre_token_balances: Option<Vec<TokenBalance>>,
    #[serde(default)]
    pub post_token_balances: Option<Vec<TokenBalance>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InnerInstructions {
    /// The outer instruction these ran under.
    pub index: u32,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenBalance {
    pub account_index: u32,
    pub mint: String,
    #[serde(default)]
    pub owner: Option<String>,
}
