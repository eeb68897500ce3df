//! Listings from Bazaar discovery items (`GET /discovery/resources`).
//!
//! Lenient, as discovery data is mixed: v1 (`maxAmountRequired`, methods under
//! `outputSchema.input`) and v2 (`amount`, methods under `extensions.bazaar.info.input`).

use serde_json::Value;

use crate::model::{ListedRequirement, Listing};

#[derive(Debug, thiserror::Error)]
pub enum ListingError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("discovery item {index}: {why}")]
    Item { index: usize, why: String },
}

fn str_field<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_str))
}

fn method_of(input: Option<&Value>) -> Option<String> {
    input
        .and_then(|i| i.get("method"))
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
}

/// One discovery item to a listing.
pub fn listing_from_item(item: &Value, index: usize) -> Result<Listing, ListingError> {
    let err = |why: &str| ListingError::Item {
        index,
        why: why.to_owned(),
    };
    let resource = match item.get("resource") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| err("resource.url missing"))?
            .to_owned(),
        _ => return Err(err("resource missing")),
    };
    let accepts = item
        .get("accepts")
        .and_then(Value::as_array)
        .ok_or_else(|| err("accepts missing"))?;
    let mut methods: Vec<String> = Vec::new();
    let mut push = |m: Option<String>| {
        if let Some(m) = m
            && !methods.contains(&m)
        {
            methods.push(m);
        }
    };
    let mut listed = Vec::new();
    for a in accepts {
        push(method_of(a.pointer("/outputSchema/input")));
        listed.push(ListedRequirement {
            scheme: str_field(a, &["scheme"]).unwrap_or_default().to_owned(),
            network: str_field(a, &["network"]).unwrap_or_default().to_owned(),
            amount: str_field(a, &["amount", "maxAmountRequired"])
                .unwrap_or_default()
                .to_owned(),
            asset: str_field(a, &["asset"]).unwrap_or_default().to_owned(),
            pay_to: str_field(a, &["payTo"]).unwrap_or_default().to_owned(),
        });
    }
    for root in ["extensions", "metadata"] {
        push(method_of(
            item.pointer(&format!("/{root}/bazaar/info/input")),
        ));
    }
    push(method_of(item.pointer("/metadata/input")));
    if methods.is_empty() {
        methods.push("GET".into());
    }
    Ok(Listing {
        resource,
        methods,
        accepts: listed,
    })
}

/// A file holding one item, an array of items, or a whole discovery response.
pub fn parse_listings(text: &str) -> Result<Vec<Listing>, ListingError> {
    let v: Value = serde_json::from_str(text)?;
    let items: Vec<&Value> = match &v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) if o.get("items").is_some_and(Value::is_array) => o
            .get("items")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        other => vec![other],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| listing_from_item(item, i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v1_and_v2_items() {
        let file = json!({"x402Version": 2, "items": [
            {"resource": "https://a.example/x", "type": "http", "x402Version": 1,
             "accepts": [{"scheme": "exact", "network": "base", "maxAmountRequired": "10",
                          "asset": "0xA", "payTo": "0xP",
                          "outputSchema": {"input": {"type": "http", "method": "post"}}}]},
            {"resource": "https://b.example/y", "type": "http", "x402Version": 2,
             "accepts": [{"scheme": "exact", "network": "eip155:8453", "amount": "5",
                          "asset": "0xB", "payTo": "0xQ"}],
             "extensions": {"bazaar": {"info": {"input": {"type": "http", "method": "GET"}}}}}
        ]});
        let l = parse_listings(&file.to_string()).expect("parses");
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].methods, vec!["POST"]);
        assert_eq!(l[0].accepts[0].amount, "10");
        assert_eq!(l[1].methods, vec!["GET"]);
        assert_eq!(l[1].accepts[0].pay_to, "0xQ");
        assert!(parse_listings("{\"resource\": 1}").is_err());
    }
}
