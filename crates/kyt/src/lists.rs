//! Sanctions lists: parsing (`SDN_ADVANCED.XML`, CSV, JSON), address
//! normalisation, and loading a list as a new version in the store.

use std::collections::{BTreeMap, HashMap};

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::{Deserialize, Serialize};
use x402scope_store::{ListChange, ListEntry, ListVersion, Store};

use crate::{KytError, sha256_hex};

/// The text that marks a digital currency address feature type in SDN_ADVANCED.
pub const DIGITAL_CURRENCY_PREFIX: &str = "Digital Currency Address - ";

/// A list file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// OFAC `SDN_ADVANCED.XML`.
    Sdn,
    /// `address,label[,ticker]` lines, with an optional header line.
    Csv,
    /// `[{"address": …, "label": …, "ticker": …}]`, or `{"published": "YYYY-MM-DD", "entries": [...]}`.
    Json,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Sdn => "sdn",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sdn" => Some(Format::Sdn),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// One listed address, normalised.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Listed {
    pub address: String,
    /// `evm`, `solana` or `other`.
    pub kind: String,
    pub ticker: String,
    pub label: String,
}

/// A parsed list: its publish date and its entries (deduplicated, sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedList {
    pub published_at: i64,
    pub entries: Vec<Listed>,
}

/// Normalise a listed address for the chains it applies to: a 0x address (under
/// any ticker: ETH, USDC, USDT, ARB, BSC, …) applies to every EVM chain and is
/// compared in lowercase; a SOL address is compared exactly; anything else is
/// kept exactly as listed.
pub fn normalise(ticker: &str, address: &str) -> (String, &'static str) {
    let a = address.trim();
    let is_evm = a.len() == 42
        && (a.starts_with("0x") || a.starts_with("0X"))
        && a[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if is_evm {
        (a.to_ascii_lowercase(), "evm")
    } else if ticker.eq_ignore_ascii_case("SOL") || (ticker.is_empty() && looks_like_solana(a)) {
        (a.to_owned(), "solana")
    } else {
        (a.to_owned(), "other")
    }
}

fn looks_like_solana(a: &str) -> bool {
    (32..=44).contains(&a.len())
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() && !matches!(b, b'0' | b'O' | b'I' | b'l'))
}

fn malformed(format: Format, detail: impl Into<String>) -> KytError {
    KytError::Malformed {
        format: format.as_str(),
        detail: detail.into(),
    }
}

/// Parse a list file of `format`.
pub fn parse(format: Format, bytes: &[u8]) -> Result<ParsedList, KytError> {
    let mut list = match format {
        Format::Sdn => parse_sdn(bytes)?,
        Format::Csv => parse_csv(bytes)?,
        Format::Json => parse_json(bytes)?,
    };
    list.entries.sort();
    list.entries
        .dedup_by(|a, b| a.address == b.address && a.ticker == b.ticker);
    Ok(list)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn date_to_unix(y: i64, m: i64, d: i64) -> Option<i64> {
    ((1..=12).contains(&m) && (1..=31).contains(&d) && (1900..=9999).contains(&y))
        .then(|| days_from_civil(y, m, d) * 86_400)
}

/// Parse `YYYY-MM-DD` into Unix seconds.
pub fn parse_date(s: &str) -> Option<i64> {
    let mut parts = s.trim().splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    date_to_unix(y, m, d)
}

/// Stream `SDN_ADVANCED.XML`: the FeatureTypes whose text is
/// `Digital Currency Address - TICKER`, then every Feature with one of those
/// FeatureTypeIDs, whose `VersionDetail` is the address; the label is the
/// DistinctParty's first name part. The publish date is `DateOfIssue`.
pub fn parse_sdn(bytes: &[u8]) -> Result<ParsedList, KytError> {
    const F: Format = Format::Sdn;
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut root_seen = false;

    let mut tickers: HashMap<String, String> = HashMap::new();
    let mut feature_type: Option<(String, String)> = None; // (id, text)
    let mut date: [Option<i64>; 3] = [None; 3];
    let mut party: Option<String> = None;
    let mut party_names: HashMap<String, String> = HashMap::new();
    let mut name_part: Option<String> = None;
    let mut feature: Option<String> = None; // its FeatureTypeID
    let mut detail: Option<String> = None;
    // (feature type id, address, party)
    let mut found: Vec<(String, String, Option<String>)> = Vec::new();
    let mut text = String::new();

    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| malformed(F, format!("XML error at byte {position}: {e}")))?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                if !root_seen {
                    if name != b"Sanctions" {
                        return Err(malformed(
                            F,
                            format!(
                                "the root element is <{}>, not <Sanctions>: not an SDN_ADVANCED file",
                                String::from_utf8_lossy(&name)
                            ),
                        ));
                    }
                    root_seen = true;
                }
                let attr = |key: &[u8]| -> Result<Option<String>, KytError> {
                    for a in e.attributes() {
                        let a = a.map_err(|err| {
                            malformed(F, format!("bad attribute near byte {position}: {err}"))
                        })?;
                        if a.key.local_name().as_ref() == key {
                            let v = a.unescape_value().map_err(|err| {
                                malformed(
                                    F,
                                    format!("bad attribute value near byte {position}: {err}"),
                                )
                            })?;
                            return Ok(Some(v.into_owned()));
                        }
                    }
                    Ok(None)
                };
                match name.as_slice() {
                    b"FeatureType" => {
                        let id = attr(b"ID")?.ok_or_else(|| {
                            malformed(F, format!("a FeatureType without ID near byte {position}"))
                        })?;
                        feature_type = Some((id, String::new()));
                    }
                    b"DistinctParty" => party = attr(b"FixedRef")?,
                    b"Feature" => {
                        feature = Some(attr(b"FeatureTypeID")?.ok_or_else(|| {
                            malformed(
                                F,
                                format!("a Feature without FeatureTypeID near byte {position}"),
                            )
                        })?);
                    }
                    b"VersionDetail" if feature.is_some() => detail = Some(String::new()),
                    b"NamePartValue" if party.is_some() => name_part = Some(String::new()),
                    _ => {}
                }
                text.clear();
                stack.push(name);
            }
            Event::End(e) => {
                let name = e.local_name().as_ref().to_vec();
                stack.pop();
                match name.as_slice() {
                    b"FeatureType" => {
                        if let Some((id, t)) = feature_type.take()
                            && let Some(ticker) = t.trim().strip_prefix(DIGITAL_CURRENCY_PREFIX)
                        {
                            tickers.insert(id, ticker.trim().to_owned());
                        }
                    }
                    b"Year" | b"Month" | b"Day"
                        if stack.last().is_some_and(|p| p.as_slice() == b"DateOfIssue") =>
                    {
                        let v = text.trim().parse::<i64>().map_err(|_| {
                            malformed(
                                F,
                                format!(
                                    "DateOfIssue has a bad {} {:?}",
                                    String::from_utf8_lossy(&name),
                                    text.trim()
                                ),
                            )
                        })?;
                        let i = match name.as_slice() {
                            b"Year" => 0,
                            b"Month" => 1,
                            _ => 2,
                        };
                        date[i] = Some(v);
                    }
                    b"NamePartValue" => {
                        if let (Some(p), Some(n)) = (&party, name_part.take()) {
                            party_names
                                .entry(p.clone())
                                .or_insert_with(|| n.trim().to_owned());
                        }
                    }
                    b"VersionDetail" => {
                        if let (Some(ft), Some(d)) = (&feature, detail.take()) {
                            found.push((ft.clone(), d.trim().to_owned(), party.clone()));
                        }
                    }
                    b"Feature" => feature = None,
                    b"DistinctParty" => party = None,
                    _ => {}
                }
            }
            Event::Empty(_) if !root_seen => {
                return Err(malformed(F, "the document has no <Sanctions> root element"));
            }
            Event::Text(t) => {
                let s = t
                    .xml10_content()
                    .map_err(|e| malformed(F, format!("bad text near byte {position}: {e}")))?;
                push_text(
                    &mut text,
                    &mut feature_type,
                    &mut detail,
                    &mut name_part,
                    &s,
                );
            }
            Event::CData(t) => {
                let s = String::from_utf8_lossy(&t).into_owned();
                push_text(
                    &mut text,
                    &mut feature_type,
                    &mut detail,
                    &mut name_part,
                    &s,
                );
            }
            Event::GeneralRef(r) => {
                let s = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| {
                            malformed(
                                F,
                                format!("bad character reference near byte {position}: {e}"),
                            )
                        })?
                        .map(String::from)
                        .unwrap_or_default()
                } else {
                    let name = r.decode().map_err(|e| {
                        malformed(F, format!("bad entity near byte {position}: {e}"))
                    })?;
                    quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| {
                            malformed(F, format!("unknown entity &{name}; near byte {position}"))
                        })?
                        .to_owned()
                };
                push_text(
                    &mut text,
                    &mut feature_type,
                    &mut detail,
                    &mut name_part,
                    &s,
                );
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if let Some(open) = stack.last() {
        return Err(malformed(
            F,
            format!(
                "the file ends inside <{}>: truncated?",
                String::from_utf8_lossy(open)
            ),
        ));
    }
    if !root_seen {
        return Err(malformed(F, "the document has no <Sanctions> root element"));
    }
    let published_at = match date {
        [Some(y), Some(m), Some(d)] => date_to_unix(y, m, d)
            .ok_or_else(|| malformed(F, format!("DateOfIssue {y}-{m}-{d} is not a date")))?,
        _ => 0,
    };
    let mut entries = Vec::new();
    for (ft, value, p) in found {
        let Some(ticker) = tickers.get(&ft) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let (address, kind) = normalise(ticker, &value);
        let label = p
            .as_ref()
            .and_then(|p| party_names.get(p).cloned())
            .or_else(|| p.map(|p| format!("SDN FixedRef {p}")))
            .unwrap_or_default();
        entries.push(Listed {
            address,
            kind: kind.to_owned(),
            ticker: ticker.clone(),
            label,
        });
    }
    Ok(ParsedList {
        published_at,
        entries,
    })
}

fn push_text(
    text: &mut String,
    feature_type: &mut Option<(String, String)>,
    detail: &mut Option<String>,
    name_part: &mut Option<String>,
    s: &str,
) {
    text.push_str(s);
    if let Some((_, t)) = feature_type {
        t.push_str(s);
    }
    if let Some(d) = detail {
        d.push_str(s);
    }
    if let Some(n) = name_part {
        n.push_str(s);
    }
}

/// Split one CSV line into fields (double quotes, `""` inside quotes).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(if was_quoted {
                    std::mem::take(&mut field)
                } else {
                    field.trim().to_owned()
                });
                field.clear();
                was_quoted = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("an unterminated quoted field".into());
    }
    out.push(if was_quoted {
        field
    } else {
        field.trim().to_owned()
    });
    Ok(out)
}

/// `address,label[,ticker]` per line; an optional first line naming the columns;
/// `#` comments and blank lines skipped.
pub fn parse_csv(bytes: &[u8]) -> Result<ParsedList, KytError> {
    const F: Format = Format::Csv;
    let text = std::str::from_utf8(bytes).map_err(|e| malformed(F, format!("not UTF-8: {e}")))?;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let fields = csv_fields(line).map_err(|e| malformed(F, format!("line {}: {e}", i + 1)))?;
        if entries.is_empty() && fields[0].eq_ignore_ascii_case("address") {
            continue;
        }
        let address = fields[0].as_str();
        if address.is_empty() {
            return Err(malformed(
                F,
                format!("line {}: the address is empty", i + 1),
            ));
        }
        let label = fields.get(1).cloned().unwrap_or_default();
        let ticker = fields.get(2).cloned().unwrap_or_default();
        let (address, kind) = normalise(&ticker, address);
        entries.push(Listed {
            address,
            kind: kind.into(),
            ticker,
            label,
        });
    }
    Ok(ParsedList {
        published_at: 0,
        entries,
    })
}

#[derive(Deserialize)]
struct JsonEntry {
    address: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    ticker: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonList {
    Entries(Vec<JsonEntry>),
    Document {
        #[serde(default)]
        published: Option<String>,
        entries: Vec<JsonEntry>,
    },
}

/// A JSON array of `{address, label, ticker}`, or an object with `entries` and
/// an optional `published` date (`YYYY-MM-DD`).
pub fn parse_json(bytes: &[u8]) -> Result<ParsedList, KytError> {
    const F: Format = Format::Json;
    let list: JsonList = serde_json::from_slice(bytes).map_err(|e| malformed(F, e.to_string()))?;
    let (published, items) = match list {
        JsonList::Entries(e) => (None, e),
        JsonList::Document { published, entries } => (published, entries),
    };
    let published_at = match published {
        Some(p) => parse_date(&p)
            .ok_or_else(|| malformed(F, format!("published {p:?} is not YYYY-MM-DD")))?,
        None => 0,
    };
    let mut entries = Vec::with_capacity(items.len());
    for (i, e) in items.into_iter().enumerate() {
        if e.address.trim().is_empty() {
            return Err(malformed(F, format!("entry {i}: the address is empty")));
        }
        let (address, kind) = normalise(&e.ticker, &e.address);
        entries.push(Listed {
            address,
            kind: kind.into(),
            ticker: e.ticker,
            label: e.label,
        });
    }
    Ok(ParsedList {
        published_at,
        entries,
    })
}

/// What loading a list did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadOutcome {
    pub version: ListVersion,
    /// The file is the source's current version already: nothing new was stored.
    pub unchanged: bool,
    pub added: Vec<ListChange>,
    pub removed: Vec<ListChange>,
}

/// The active version of every source: the latest loaded one.
pub async fn active_versions(store: &Store) -> Result<Vec<ListVersion>, KytError> {
    let mut latest: BTreeMap<String, ListVersion> = BTreeMap::new();
    for v in store.kyt_list_versions().await? {
        latest.insert(v.source.clone(), v);
    }
    Ok(latest.into_values().collect())
}

/// Parse `bytes` and store them as a new version of `source`, with the changes
/// against its previous version. A file that does not parse changes nothing.
pub async fn load(
    store: &Store,
    source: &str,
    format: Format,
    bytes: &[u8],
    now: i64,
) -> Result<LoadOutcome, KytError> {
    if source.trim().is_empty() || source.contains('@') {
        return Err(KytError::Invalid(format!(
            "list source name {source:?} must be non-empty and must not contain '@'"
        )));
    }
    let parsed = parse(format, bytes)?;
    let sha256 = sha256_hex(bytes);
    let versions: Vec<ListVersion> = store
        .kyt_list_versions()
        .await?
        .into_iter()
        .filter(|v| v.source == source)
        .collect();
    let previous = versions.last().cloned();
    if let Some(p) = &previous
        && p.sha256 == sha256
    {
        return Ok(LoadOutcome {
            version: p.clone(),
            unchanged: true,
            added: Vec::new(),
            removed: Vec::new(),
        });
    }
    let id = format!("{source}@{}-{}", versions.len() + 1, &sha256[..12]);
    let old: BTreeMap<String, String> = match &previous {
        Some(p) => store
            .kyt_list_entries(&p.id)
            .await?
            .into_iter()
            .map(|e| (e.address, e.label))
            .collect(),
        None => BTreeMap::new(),
    };
    let new: BTreeMap<&str, &str> = parsed
        .entries
        .iter()
        .map(|e| (e.address.as_str(), e.label.as_str()))
        .collect();
    let change = |address: &str, label: &str, change: &str| ListChange {
        version_id: id.clone(),
        source: source.to_owned(),
        address: address.to_owned(),
        change: change.to_owned(),
        label: label.to_owned(),
    };
    let added: Vec<ListChange> = new
        .iter()
        .filter(|(a, _)| !old.contains_key(**a))
        .map(|(a, l)| change(a, l, "added"))
        .collect();
    let removed: Vec<ListChange> = old
        .iter()
        .filter(|(a, _)| !new.contains_key(a.as_str()))
        .map(|(a, l)| change(a, l, "removed"))
        .collect();
    let version = ListVersion {
        id: id.clone(),
        source: source.to_owned(),
        format: format.as_str().to_owned(),
        published_at: parsed.published_at,
        loaded_at: now,
        sha256,
        entry_count: parsed.entries.len() as u64,
    };
    let entries = parsed
        .entries
        .into_iter()
        .map(|e| ListEntry {
            version_id: id.clone(),
            address: e.address,
            kind: e.kind,
            ticker: e.ticker,
            label: e.label,
        })
        .collect();
    let mut changes = added.clone();
    changes.extend(removed.iter().cloned());
    store
        .kyt_insert_list_version(version.clone(), entries, changes)
        .await?;
    Ok(LoadOutcome {
        version,
        unchanged: false,
        added,
        removed,
    })
}

/// Write an SDN_ADVANCED-format document listing `parties`: each is a name and
/// its (ticker, address) features. For tests and benchmarks; the structure is
/// the subset of the OFAC schema that [`parse_sdn`] reads, plus a non-currency
/// feature type so that filtering by FeatureType is exercised.
pub fn write_sdn(date: (i32, u32, u32), parties: &[(String, Vec<(String, String)>)]) -> String {
    use std::fmt::Write;
    let mut tickers: Vec<&str> = parties
        .iter()
        .flat_map(|(_, f)| f.iter().map(|(t, _)| t.as_str()))
        .collect();
    tickers.sort_unstable();
    tickers.dedup();
    let mut out = String::with_capacity(256 * parties.len() + 1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Sanctions xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML\">\n");
    let _ = write!(
        out,
        "  <DateOfIssue><Year>{}</Year><Month>{}</Month><Day>{}</Day></DateOfIssue>\n  <ReferenceValueSets>\n    <FeatureTypeValues>\n      <FeatureType ID=\"8\" FeatureTypeGroupID=\"1\">Nationality Country</FeatureType>\n",
        date.0, date.1, date.2
    );
    for (i, t) in tickers.iter().enumerate() {
        let _ = writeln!(
            out,
            "      <FeatureType ID=\"{}\" FeatureTypeGroupID=\"3\">{DIGITAL_CURRENCY_PREFIX}{t}</FeatureType>",
            344 + i
        );
    }
    out.push_str("    </FeatureTypeValues>\n  </ReferenceValueSets>\n  <DistinctParties>\n");
    let mut feature_id = 100_000;
    for (p, (name, features)) in parties.iter().enumerate() {
        let name = name.replace('&', "&amp;").replace('<', "&lt;");
        let _ = write!(
            out,
            "    <DistinctParty FixedRef=\"{ref_}\">\n      <Profile ID=\"{ref_}\" PartySubTypeID=\"4\">\n        <Identity ID=\"{ref_}\" FixedRef=\"{ref_}\" Primary=\"true\" False=\"false\">\n          <Alias FixedRef=\"{ref_}\" AliasTypeID=\"1403\" Primary=\"true\" LowQuality=\"false\">\n            <DocumentedName ID=\"{ref_}\" FixedRef=\"{ref_}\" DocNameStatusID=\"1\">\n              <DocumentedNamePart><NamePartValue NamePartGroupID=\"1\" ScriptID=\"215\" ScriptStatusID=\"1\" Acronym=\"false\">{name}</NamePartValue></DocumentedNamePart>\n            </DocumentedName>\n          </Alias>\n        </Identity>\n        <Feature ID=\"{f0}\" FeatureTypeID=\"8\"><FeatureVersion ID=\"{f0}\" ReliabilityID=\"1\"><VersionDetail DetailTypeID=\"1432\">0x0000000000000000000000000000000000000000</VersionDetail></FeatureVersion></Feature>\n",
            ref_ = 10_000 + p,
            f0 = feature_id
        );
        feature_id += 1;
        for (ticker, address) in features {
            let type_id = 344 + tickers.iter().position(|t| t == ticker).unwrap_or(0);
            let _ = writeln!(
                out,
                "        <Feature ID=\"{feature_id}\" FeatureTypeID=\"{type_id}\">\n          <FeatureVersion ID=\"{feature_id}\" ReliabilityID=\"1\">\n            <Comment/>\n            <VersionDetail DetailTypeID=\"1432\">{address}</VersionDetail>\n          </FeatureVersion>\n          <IdentityReference IdentityID=\"{}\" IdentityFeatureLinkTypeID=\"1\"/>\n        </Feature>",
                10_000 + p
            );
            feature_id += 1;
        }
        out.push_str("      </Profile>\n    </DistinctParty>\n");
    }
    out.push_str("  </DistinctParties>\n</Sanctions>\n");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn party(name: &str, f: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
        (
            name.into(),
            f.iter().map(|(t, a)| ((*t).into(), (*a).into())).collect(),
        )
    }

    #[test]
    fn sdn_reads_digital_currency_features_only() {
        let xml = write_sdn(
            (2026, 3, 14),
            &[
                party(
                    "EVIL & CO",
                    &[
                        ("ETH", "0xAbCdEf0000000000000000000000000000000001"),
                        ("USDC", "0xABCDEF0000000000000000000000000000000002"),
                    ],
                ),
                party(
                    "SOL GUY",
                    &[
                        ("SOL", "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"),
                        ("XBT", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"),
                    ],
                ),
            ],
        );
        let list = parse(Format::Sdn, xml.as_bytes()).unwrap();
        assert_eq!(list.published_at, parse_date("2026-03-14").unwrap());
        let got: Vec<(&str, &str, &str, &str)> = list
            .entries
            .iter()
            .map(|e| {
                (
                    e.address.as_str(),
                    e.kind.as_str(),
                    e.ticker.as_str(),
                    e.label.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "0xabcdef0000000000000000000000000000000001",
                    "evm",
                    "ETH",
                    "EVIL & CO"
                ),
                (
                    "0xabcdef0000000000000000000000000000000002",
                    "evm",
                    "USDC",
                    "EVIL & CO"
                ),
                (
                    "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
                    "other",
                    "XBT",
                    "SOL GUY"
                ),
                (
                    "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU",
                    "solana",
                    "SOL",
                    "SOL GUY"
                ),
            ],
            "the Nationality feature (0x000…) is not a digital currency address"
        );
    }

    #[test]
    fn malformed_sdn_fails_clearly() {
        let xml = write_sdn(
            (2026, 1, 1),
            &[party(
                "A",
                &[("ETH", "0x1111111111111111111111111111111111111111")],
            )],
        );
        let cut = xml.find("</DistinctParties>").unwrap();
        let e = parse(Format::Sdn, &xml.as_bytes()[..cut])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sdn list is malformed") && e.contains("ends inside <DistinctParties>"),
            "{e}"
        );
        let e = parse(Format::Sdn, &xml.as_bytes()[..xml.len() / 2])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sdn list is malformed"), "{e}");
        let bad = xml.replace("</Profile>", "</Profil>");
        let e = parse(Format::Sdn, bad.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("XML error at byte"), "{e}");
        let e = parse(Format::Sdn, b"<html><body/></html>")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an SDN_ADVANCED file"), "{e}");
        let e = parse(Format::Sdn, b"").unwrap_err().to_string();
        assert!(e.contains("no <Sanctions> root"), "{e}");
    }

    #[test]
    fn csv_and_json_lists() {
        let csv = "address,label\n# comment\n0xAAAA000000000000000000000000000000000001,\"Mixer, Inc.\"\n7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU,sol one\n";
        let list = parse(Format::Csv, csv.as_bytes()).unwrap();
        assert_eq!(list.entries.len(), 2);
        assert_eq!(
            list.entries[0].address,
            "0xaaaa000000000000000000000000000000000001"
        );
        assert_eq!(list.entries[0].label, "Mixer, Inc.");
        assert_eq!(list.entries[1].kind, "solana");
        assert!(parse(Format::Csv, b"\"open,quote\n").is_err());
        let json = br#"{"published":"2026-02-01","entries":[{"address":"0xBBBB000000000000000000000000000000000001","label":"b"}]}"#;
        let list = parse(Format::Json, json).unwrap();
        assert_eq!(list.published_at, parse_date("2026-02-01").unwrap());
        assert_eq!(
            list.entries[0].address,
            "0xbbbb000000000000000000000000000000000001"
        );
        assert!(parse(Format::Json, b"[{\"label\":\"no address\"}]").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(951_868_800));
        assert_eq!(parse_date("2000-13-01"), None);
    }
}
