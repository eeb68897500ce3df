//! The transaction list's JSON, written field by field.
//!
//! An uncached `/api/v1/transactions` page is ~27 KB of JSON, nearly all of it
//! hex strings that need no escaping; the generic serializer checks them byte
//! by byte and was a tenth of the endpoint's CPU. Here a string is checked in
//! one pass and copied whole, and only a string that needs escaping goes
//! through `serde_json`. The output is byte for byte what `serde_json` writes
//! for [`TxListData`] (tested below), so the schema and the derive stay the
//! single description of the shape.

use crate::data::{TxListData, TxRow};

/// `d` as JSON, exactly as `serde_json::to_vec(d)` writes it.
pub fn tx_list(d: &TxListData) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(64 + 640 * d.items.len());
    out.extend_from_slice(b"{\"items\":[");
    for (i, row) in d.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        tx_row(&mut out, row)?;
    }
    out.extend_from_slice(b"],\"next\":");
    match &d.next {
        Some(next) => string(&mut out, next)?,
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    Ok(out)
}

fn tx_row(out: &mut Vec<u8>, r: &TxRow) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"network\":");
    string(out, &r.network)?;
    out.extend_from_slice(b",\"tx_id\":");
    string(out, &r.tx_id)?;
    out.extend_from_slice(b",\"idx_outer\":");
    int(out, r.idx_outer);
    out.extend_from_slice(b",\"idx_inner\":");
    int(out, r.idx_inner);
    out.extend_from_slice(b",\"block_number\":");
    int(out, r.block_number);
    out.extend_from_slice(b",\"block_time\":");
    int(out, r.block_time);
    for (key, value) in [
        (&b",\"time\":"[..], &r.time),
        (b",\"asset\":", &r.asset),
        (b",\"payer\":", &r.payer),
        (b",\"pay_to\":", &r.pay_to),
        (b",\"amount\":", &r.amount),
        (b",\"amount_units\":", &r.amount_units),
        (b",\"facilitator\":", &r.facilitator),
        (b",\"tx_from\":", &r.tx_from),
        (b",\"method\":", &r.method),
    ] {
        out.extend_from_slice(key);
        string(out, value)?;
    }
    out.extend_from_slice(b",\"is_final\":");
    boolean(out, r.is_final);
    out.extend_from_slice(b",\"is_organic\":");
    boolean(out, r.is_organic);
    out.push(b'}');
    Ok(())
}

fn string(out: &mut Vec<u8>, s: &str) -> Result<(), serde_json::Error> {
    // The bytes JSON escapes: control characters, the quote and the backslash
    // (a branch-free pass, so it vectorizes).
    let mut flags = 0u8;
    for &b in s.as_bytes() {
        flags |= u8::from(b < 0x20) | u8::from(b == b'"') | u8::from(b == b'\\');
    }
    let needs_escape = flags != 0;
    if needs_escape {
        serde_json::to_writer(&mut *out, s)
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    }
}

fn int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn boolean(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str, n: u64, flag: bool) -> TxRow {
        TxRow {
            network: "eip155:8453".into(),
            tx_id: format!("0x{text}"),
            idx_outer: n as u32,
            idx_inner: u32::MAX,
            block_number: n,
            block_time: -(n as i64),
            time: "2026-12-03 14:07".into(),
            asset: text.into(),
            payer: text.to_uppercase(),
            pay_to: String::new(),
            amount: n.to_string(),
            amount_units: "0.000001".into(),
            facilitator: text.into(),
            tx_from: text.chars().rev().collect(),
            method: "eip3009".into(),
            is_final: flag,
            is_organic: !flag,
        }
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let texts = [
            "",
            "plain",
            "a\"quote",
            "back\\slash",
            "new\nline",
            "\u{0}\u{1f}\u{7f}",
            "tab\there",
            "ünïcødé ✓ 🚀",
            "</script>&'",
        ];
        let rows: Vec<TxRow> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| row(t, (i as u64) * 1_000_000_007, i % 2 == 0))
            .collect();
        for next in [
            None,
            Some("1796306840.eip155:8453.0xab.0.0".to_owned()),
            Some("q\"\\\n".to_owned()),
        ] {
            for n in [0, 1, rows.len()] {
                let d = TxListData::new(rows[..n].to_vec(), next.clone());
                let ours = tx_list(&d).expect("writes");
                let theirs = serde_json::to_vec(&d).expect("serializes");
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&theirs),
                    "{n} rows, next {next:?}"
                );
            }
        }
        let extreme = TxRow {
            idx_outer: u32::MAX,
            block_number: u64::MAX,
            block_time: i64::MIN,
            ..row("x", 0, true)
        };
        let d = TxListData::new(vec![extreme], None);
        assert_eq!(
            tx_list(&d).expect("writes"),
            serde_json::to_vec(&d).expect("serializes")
        );
    }
}
