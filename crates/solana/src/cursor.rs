//! Where indexing of one watched address resumes, and what becomes of a stored
//! transaction that is not final yet. Pure; the indexer only drives it.
//!
//! `getSignaturesForAddress` lists newest first, so a pass over an address is a
//! *scan* downwards from the newest signature to the last resume point
//! (`until`), page by page. After each page is committed the cursor records
//! how far down the scan got (`before`), so a restart continues the scan where
//! it stopped. When the scan reaches `until`, the new resume point is the
//! newest **finalized** signature the scan saw: everything newer than that is
//! listed again by the next scan (the overlap), so a transaction that was only
//! `confirmed` is seen again, and nothing is missed. Rows are written with
//! natural keys, so what the overlap lists again is not doubled.
//!
//! Stored rows that are not final are settled separately by their signature
//! status ([`finality_action`]): finalized → marked final; failed, or unknown
//! to the node once the finalized slot has passed theirs → removed (dropped
//! before finality); otherwise kept for the next pass.

/// The persisted progress on one watched address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressCursor {
    /// Everything at or older than this signature is indexed and final.
    /// `None`: from the address's first transaction.
    pub until: Option<String>,
    /// A scan is in progress and has committed everything newer than this
    /// signature down to it. `None`: no scan in progress.
    pub before: Option<String>,
    /// The newest finalized signature the scan in progress has seen.
    pub next_until: Option<String>,
}

/// One entry of `getSignaturesForAddress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigInfo {
    pub signature: String,
    pub slot: u64,
    pub failed: bool,
    pub finalized: bool,
}

/// One entry of `getSignatureStatuses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigStatus {
    pub finalized: bool,
    pub failed: bool,
}

/// The next page to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub before: Option<String>,
    pub until: Option<String>,
}

/// After a page: the cursor to store, and whether the scan is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOutcome {
    pub cursor: AddressCursor,
    pub scan_done: bool,
}

impl AddressCursor {
    pub fn request(&self) -> PageRequest {
        PageRequest {
            before: self.before.clone(),
            until: self.until.clone(),
        }
    }

    /// The cursor once `page` (newest first, asked for with `limit`) has been
    /// committed. A page shorter than `limit` ends the scan.
    pub fn after_page(&self, page: &[SigInfo], limit: usize) -> PageOutcome {
        let next_until = self.next_until.clone().or_else(|| {
            page.iter()
                .find(|s| s.finalized)
                .map(|s| s.signature.clone())
        });
        if page.len() < limit {
            return PageOutcome {
                cursor: AddressCursor {
                    until: next_until.or_else(|| self.until.clone()),
                    before: None,
                    next_until: None,
                },
                scan_done: true,
            };
        }
        PageOutcome {
            cursor: AddressCursor {
                until: self.until.clone(),
                before: page
                    .last()
                    .map(|s| s.signature.clone())
                    .or_else(|| self.before.clone()),
                next_until,
            },
            scan_done: false,
        }
    }
}

/// What to do with a stored, not yet final transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalityAction {
    Keep,
    MarkFinal,
    Remove,
}

/// Decide for a stored transaction of slot `slot`, given its status now and
/// the newest finalized slot.
pub fn finality_action(
    slot: u64,
    status: Option<SigStatus>,
    finalized_slot: u64,
) -> FinalityAction {
    match status {
        Some(s) if s.failed => FinalityAction::Remove,
        Some(s) if s.finalized => FinalityAction::MarkFinal,
        Some(_) => FinalityAction::Keep,
        // Finality has passed its slot and the node does not know it: its
        // fork was abandoned.
        None if slot < finalized_slot => FinalityAction::Remove,
        None => FinalityAction::Keep,
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;

    fn sig(name: &str, finalized: bool) -> SigInfo {
        SigInfo {
            signature: name.into(),
            slot: 0,
            failed: false,
            finalized,
        }
    }

    fn cur(until: Option<&str>, before: Option<&str>, next: Option<&str>) -> AddressCursor {
        AddressCursor {
            until: until.map(Into::into),
            before: before.map(Into::into),
            next_until: next.map(Into::into),
        }
    }

    #[test]
    fn after_page_table() {
        // (name, cursor, page (newest first), limit, expected cursor, scan done)
        let cases: Vec<(
            &str,
            AddressCursor,
            Vec<SigInfo>,
            usize,
            AddressCursor,
            bool,
        )> = vec![
            (
                "empty address, first scan",
                cur(None, None, None),
                vec![],
                3,
                cur(None, None, None),
                true,
            ),
            (
                "nothing new since until",
                cur(Some("u"), None, None),
                vec![],
                3,
                cur(Some("u"), None, None),
                true,
            ),
            (
                "short page, all final: until moves to the newest",
                cur(Some("u"), None, None),
                vec![sig("c", true), sig("b", true)],
                3,
                cur(Some("c"), None, None),
                true,
            ),
            (
                "short page, newest only confirmed: until stops below it (overlap)",
                cur(Some("u"), None, None),
                vec![sig("c", false), sig("b", true), sig("a", true)],
                4,
                cur(Some("b"), None, None),
                true,
            ),
            (
                "short page, nothing final: until stays",
                cur(Some("u"), None, None),
                vec![sig("c", false), sig("b", false)],
                3,
                cur(Some("u"), None, None),
                true,
            ),
            (
                "full page: scan continues below its last entry",
                cur(Some("u"), None, None),
                vec![sig("f", false), sig("e", true), sig("d", true)],
                3,
                cur(Some("u"), Some("d"), Some("e")),
                false,
            ),
            (
                "second page keeps the newest final from the first",
                cur(Some("u"), Some("d"), Some("e")),
                vec![sig("c", true), sig("b", true), sig("a", true)],
                3,
                cur(Some("u"), Some("a"), Some("e")),
                false,
            ),
            (
                "scan ends: until becomes the newest final of the whole scan",
                cur(Some("u"), Some("a"), Some("e")),
                vec![],
                3,
                cur(Some("e"), None, None),
                true,
            ),
            (
                "full page of unfinal entries, then final ones on the next",
                cur(None, Some("x"), None),
                vec![sig("w", true)],
                3,
                cur(Some("w"), None, None),
                true,
            ),
        ];
        for (name, c, page, limit, want, done) in cases {
            let got = c.after_page(&page, limit);
            assert_eq!(got.cursor, want, "{name}");
            assert_eq!(got.scan_done, done, "{name}");
        }
    }

    #[test]
    fn request_follows_the_cursor() {
        let c = cur(Some("u"), Some("b"), Some("n"));
        assert_eq!(
            c.request(),
            PageRequest {
                before: Some("b".into()),
                until: Some("u".into())
            }
        );
        assert_eq!(
            AddressCursor::default().request(),
            PageRequest {
                before: None,
                until: None
            }
        );
    }

    /// Restarting after any page gives the same final cursor as an unbroken scan.
    #[test]
    fn a_scan_resumed_after_any_page_ends_the_same() {
        let all = [
            sig("h", false),
            sig("g", false),
            sig("f", true),
            sig("e", true),
            sig("d", true),
            sig("c", true),
            sig("b", true),
        ];
        let limit = 2;
        // RPC simulation: entries older than `before`, newer than `until`.
        let list = |r: &PageRequest| -> Vec<SigInfo> {
            let start = r
                .before
                .as_ref()
                .and_then(|b| all.iter().position(|s| &s.signature == b).map(|i| i + 1))
                .unwrap_or(0);
            all[start..]
                .iter()
                .take_while(|s| Some(&s.signature) != r.until.as_ref())
                .take(limit)
                .cloned()
                .collect()
        };
        let run = |mut c: AddressCursor, stop_after: Option<usize>| -> AddressCursor {
            let mut pages = 0;
            loop {
                let page = list(&c.request());
                let out = c.after_page(&page, limit);
                c = out.cursor;
                pages += 1;
                if out.scan_done || Some(pages) == stop_after {
                    return c;
                }
            }
        };
        let clean = run(cur(Some("a"), None, None), None);
        assert_eq!(clean, cur(Some("f"), None, None));
        for stop in 1..4 {
            let stopped = run(cur(Some("a"), None, None), Some(stop));
            // a restart reads the stored cursor and goes on
            assert_eq!(run(stopped, None), clean, "stopped after {stop} pages");
        }
    }

    #[test]
    fn finality_table() {
        let st = |finalized, failed| Some(SigStatus { finalized, failed });
        // (slot, status, finalized slot, expected)
        let cases = [
            (10, st(true, false), 20, FinalityAction::MarkFinal),
            (10, st(false, false), 20, FinalityAction::Keep),
            (30, st(false, false), 20, FinalityAction::Keep),
            (10, st(false, true), 20, FinalityAction::Remove),
            (10, st(true, true), 20, FinalityAction::Remove),
            (10, None, 20, FinalityAction::Remove),
            (20, None, 20, FinalityAction::Keep),
            (30, None, 20, FinalityAction::Keep),
        ];
        for (slot, status, fin, want) in cases {
            assert_eq!(
                finality_action(slot, status, fin),
                want,
                "slot {slot}, {status:?}, finalized {fin}"
            );
        }
    }
}
