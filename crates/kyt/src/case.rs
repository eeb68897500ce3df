//! Review cases: a pure state machine over hash-chained events, and the store
//! operations that open cases, append actions and verify chains.
//!
//! Every event's `hash` is SHA-256 over its canonical bytes, which include the
//! previous event's hash; seq 0 chains from 64 zeros. Editing, removing or
//! reordering any stored event breaks the chain from that event on.

use serde::{Deserialize, Serialize};
use x402scope_store::{Alert, Case, CaseEvent, Store, StoreError};

use crate::auth::{Reviewer, Scope};
use crate::{KytError, sha256_hex};

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A disposition of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    TrueMatch,
    FalsePositive,
    Escalated,
    NoActionNeeded,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::TrueMatch => "true_match",
            Disposition::FalsePositive => "false_positive",
            Disposition::Escalated => "escalated",
            Disposition::NoActionNeeded => "no_action_needed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "true_match" => Disposition::TrueMatch,
            "false_positive" => Disposition::FalsePositive,
            "escalated" => Disposition::Escalated,
            "no_action_needed" => Disposition::NoActionNeeded,
            _ => return None,
        })
    }
}

/// An action on a case, as a reviewer asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Open {
        note: String,
    },
    Assign {
        assignee: String,
        #[serde(default)]
        note: String,
    },
    Comment {
        note: String,
    },
    Disposition {
        disposition: Disposition,
        note: String,
    },
    Reopen {
        note: String,
    },
    Approve {
        #[serde(default)]
        note: String,
    },
}

/// The stored payload: keys in a fixed (alphabetical) order, empty ones left
/// out, so that the same action always gives the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub assignee: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub disposition: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Open { .. } => "open",
            Action::Assign { .. } => "assign",
            Action::Comment { .. } => "comment",
            Action::Disposition { .. } => "disposition",
            Action::Reopen { .. } => "reopen",
            Action::Approve { .. } => "approve",
        }
    }

    /// The scope a reviewer needs for it.
    pub fn scope(&self) -> Scope {
        match self {
            Action::Approve { .. } => Scope::Approve,
            _ => Scope::Review,
        }
    }

    fn payload(&self) -> Payload {
        let mut p = Payload::default();
        match self {
            Action::Open { note }
            | Action::Comment { note }
            | Action::Reopen { note }
            | Action::Approve { note } => {
                p.note = note.trim().to_owned();
            }
            Action::Assign { assignee, note } => {
                p.assignee = assignee.trim().to_owned();
                p.note = note.trim().to_owned();
            }
            Action::Disposition { disposition, note } => {
                p.disposition = disposition.as_str().to_owned();
                p.note = note.trim().to_owned();
            }
        }
        p
    }

    /// Rebuild an action from a stored event.
    pub fn from_event(e: &CaseEvent) -> Result<Self, String> {
        let p: Payload =
            serde_json::from_str(&e.payload).map_err(|err| format!("payload: {err}"))?;
        Ok(match e.action.as_str() {
            "open" => Action::Open { note: p.note },
            "assign" => Action::Assign {
                assignee: p.assignee,
                note: p.note,
            },
            "comment" => Action::Comment { note: p.note },
            "disposition" => Action::Disposition {
                disposition: Disposition::parse(&p.disposition)
                    .ok_or_else(|| format!("unknown disposition {:?}", p.disposition))?,
                note: p.note,
            },
            "reopen" => Action::Reopen { note: p.note },
            "approve" => Action::Approve { note: p.note },
            other => return Err(format!("unknown action {other:?}")),
        })
    }
}

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Open,
    Escalated,
    /// A reviewer disposed it as a true match; a second reviewer must approve.
    PendingApproval,
    Closed,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Escalated => "escalated",
            CaseStatus::PendingApproval => "pending_approval",
            CaseStatus::Closed => "closed",
        }
    }
}

/// A case's state, folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseState {
    pub status: CaseStatus,
    pub assignee: Option<String>,
    pub disposition: Option<Disposition>,
    /// Who gave the current disposition.
    pub disposed_by: Option<String>,
    /// Who approved a true match.
    pub approved_by: Option<String>,
    pub events: u64,
}

fn need_note(note: &str, what: &str) -> Result<(), KytError> {
    if note.trim().is_empty() {
        Err(KytError::Invalid(format!("{what} needs a note")))
    } else {
        Ok(())
    }
}

/// Apply `action` by `actor` to `state` (None: the case does not exist yet).
pub fn apply(
    state: Option<&CaseState>,
    actor: &str,
    action: &Action,
) -> Result<CaseState, KytError> {
    let Some(s) = state else {
        return match action {
            Action::Open { note } => {
                need_note(note, "opening a case")?;
                Ok(CaseState {
                    status: CaseStatus::Open,
                    assignee: None,
                    disposition: None,
                    disposed_by: None,
                    approved_by: None,
                    events: 1,
                })
            }
            _ => Err(KytError::Invalid("a case starts with open".into())),
        };
    };
    let mut next = s.clone();
    next.events += 1;
    match action {
        Action::Open { .. } => return Err(KytError::Conflict("the case is open already".into())),
        Action::Assign { assignee, .. } => {
            if assignee.trim().is_empty() {
                return Err(KytError::Invalid("assign needs an assignee".into()));
            }
            if s.status == CaseStatus::Closed {
                return Err(KytError::Conflict(
                    "a closed case cannot be assigned; reopen it first".into(),
                ));
            }
            next.assignee = Some(assignee.trim().to_owned());
        }
        Action::Comment { note } => need_note(note, "a comment")?,
        Action::Disposition { disposition, note } => {
            need_note(note, &format!("the disposition {}", disposition.as_str()))?;
            match s.status {
                CaseStatus::Open | CaseStatus::Escalated => {}
                CaseStatus::PendingApproval => {
                    return Err(KytError::Conflict(
                        "the case awaits approval of its true_match; reopen it to change the disposition".into(),
                    ));
                }
                CaseStatus::Closed => {
                    return Err(KytError::Conflict(
                        "the case is closed; reopen it first".into(),
                    ));
                }
            }
            next.disposition = Some(*disposition);
            next.disposed_by = Some(actor.to_owned());
            next.approved_by = None;
            next.status = match disposition {
                Disposition::TrueMatch => CaseStatus::PendingApproval,
                Disposition::Escalated => CaseStatus::Escalated,
                Disposition::FalsePositive | Disposition::NoActionNeeded => CaseStatus::Closed,
            };
        }
        Action::Approve { .. } => {
            if s.status != CaseStatus::PendingApproval {
                return Err(KytError::Conflict(format!(
                    "only a true_match awaiting approval can be approved; the case is {}",
                    s.status.as_str()
                )));
            }
            if s.disposed_by.as_deref() == Some(actor) {
                return Err(KytError::Forbidden(format!(
                    "four-eyes: {actor} disposed this case as true_match, so a different reviewer must approve it"
                )));
            }
            next.status = CaseStatus::Closed;
            next.approved_by = Some(actor.to_owned());
        }
        Action::Reopen { note } => {
            need_note(note, "reopening")?;
            if !matches!(s.status, CaseStatus::Closed | CaseStatus::PendingApproval) {
                return Err(KytError::Conflict(format!(
                    "the case is {}, not closed",
                    s.status.as_str()
                )));
            }
            next.status = CaseStatus::Open;
            next.disposition = None;
            next.disposed_by = None;
            next.approved_by = None;
        }
    }
    Ok(next)
}

/// The canonical bytes of an event, without its own hash: each field
/// length-prefixed, in a fixed order, after a version tag.
pub fn canonical_bytes(e: &CaseEvent) -> Vec<u8> {
    let mut out = b"x402scope-kyt-case-event-v1\n".to_vec();
    let seq = e.seq.to_string();
    let at = e.at.to_string();
    for field in [
        e.case_id.as_str(),
        seq.as_str(),
        at.as_str(),
        e.actor.as_str(),
        e.action.as_str(),
        e.payload.as_str(),
        e.prev_hash.as_str(),
    ] {
        out.extend_from_slice(field.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(field.as_bytes());
        out.push(b'\n');
    }
    out
}

pub fn event_hash(e: &CaseEvent) -> String {
    sha256_hex(&canonical_bytes(e))
}

/// A break in a case's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainProblem {
    pub case_id: String,
    pub seq: u64,
    pub detail: String,
}

/// Check one case's events (in seq order): contiguous seqs from 0, each
/// `prev_hash` the previous `hash`, each `hash` recomputed, each action valid.
pub fn verify_events(case_id: &str, events: &[CaseEvent]) -> Vec<ChainProblem> {
    let mut problems = Vec::new();
    let mut prev = GENESIS.to_owned();
    let mut state: Option<CaseState> = None;
    let problem = |seq: u64, detail: String| ChainProblem {
        case_id: case_id.to_owned(),
        seq,
        detail,
    };
    for (i, e) in events.iter().enumerate() {
        if e.seq != i as u64 {
            problems.push(problem(
                e.seq,
                format!("expected seq {i}: an event is missing or duplicated"),
            ));
        }
        if e.prev_hash != prev {
            problems.push(problem(
                e.seq,
                "prev_hash is not the previous event's hash".into(),
            ));
        }
        let h = event_hash(e);
        if h != e.hash {
            problems.push(problem(
                e.seq,
                format!("hash mismatch: stored {}, recomputed {h}", e.hash),
            ));
        }
        match Action::from_event(e)
            .map_err(KytError::Invalid)
            .and_then(|a| apply(state.as_ref(), &e.actor, &a))
        {
            Ok(s) => state = Some(s),
            Err(err) => problems.push(problem(e.seq, format!("not a valid step: {err}"))),
        }
        prev = e.hash.clone();
    }
    if events.is_empty() {
        problems.push(problem(0, "the case has no events".into()));
    }
    problems
}

/// The result of checking every chain.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub cases: usize,
    pub events: usize,
    pub problems: Vec<ChainProblem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verify every case's chain in the store.
pub async fn verify(store: &Store) -> Result<VerifyReport, KytError> {
    let cases = store.kyt_cases().await?;
    let events = store.kyt_events(None).await?;
    let mut report = VerifyReport {
        cases: cases.len(),
        events: events.len(),
        problems: Vec::new(),
    };
    for c in &cases {
        let mine: Vec<CaseEvent> = events
            .iter()
            .filter(|e| e.case_id == c.id)
            .cloned()
            .collect();
        report.problems.extend(verify_events(&c.id, &mine));
    }
    for e in &events {
        if !cases.iter().any(|c| c.id == e.case_id) {
            report.problems.push(ChainProblem {
                case_id: e.case_id.clone(),
                seq: e.seq,
                detail: "an event of a case that does not exist".into(),
            });
        }
    }
    Ok(report)
}

/// A case with its alert, state and timeline.
#[derive(Debug, Clone, Serialize)]
pub struct CaseView {
    pub case: Case,
    pub alert: Option<Alert>,
    /// None when the chain is broken (see `problems`).
    pub state: Option<CaseState>,
    pub events: Vec<CaseEvent>,
    pub problems: Vec<ChainProblem>,
}

fn fold(events: &[CaseEvent]) -> Option<CaseState> {
    let mut state: Option<CaseState> = None;
    for e in events {
        let a = Action::from_event(e).ok()?;
        state = Some(apply(state.as_ref(), &e.actor, &a).ok()?);
    }
    state
}

/// The case id for an alert: one case per alert, reopened rather than duplicated.
pub fn case_id_for(alert_id: &str) -> String {
    format!("c-{}", alert_id.trim_start_matches("a-"))
}

pub async fn view(store: &Store, case_id: &str) -> Result<CaseView, KytError> {
    let case = store
        .kyt_cases()
        .await?
        .into_iter()
        .find(|c| c.id == case_id)
        .ok_or_else(|| KytError::NotFound(format!("case {case_id}")))?;
    let alert = store
        .kyt_alerts()
        .await?
        .into_iter()
        .find(|a| a.id == case.alert_id);
    let events = store.kyt_events(Some(case_id)).await?;
    let problems = verify_events(case_id, &events);
    let state = if problems.is_empty() {
        fold(&events)
    } else {
        None
    };
    Ok(CaseView {
        case,
        alert,
        state,
        events,
        problems,
    })
}

fn need_scope(reviewer: &Reviewer, scope: Scope) -> Result<(), KytError> {
    if reviewer.has(scope) {
        Ok(())
    } else {
        Err(KytError::Forbidden(format!(
            "reviewer {} lacks the scope {}",
            reviewer.name,
            scope.as_str()
        )))
    }
}

/// Open a case for an alert.
pub async fn open(
    store: &Store,
    reviewer: &Reviewer,
    alert_id: &str,
    note: &str,
    now: i64,
) -> Result<CaseView, KytError> {
    let action = Action::Open {
        note: note.to_owned(),
    };
    need_scope(reviewer, action.scope())?;
    apply(None, &reviewer.name, &action)?;
    if !store.kyt_alerts().await?.iter().any(|a| a.id == alert_id) {
        return Err(KytError::NotFound(format!("alert {alert_id}")));
    }
    let id = case_id_for(alert_id);
    let mut first = CaseEvent {
        case_id: id.clone(),
        seq: 0,
        at: now,
        actor: reviewer.name.clone(),
        action: action.name().to_owned(),
        payload: payload_json(&action)?,
        prev_hash: GENESIS.to_owned(),
        hash: String::new(),
    };
    first.hash = event_hash(&first);
    let case = Case {
        id: id.clone(),
        alert_id: alert_id.to_owned(),
        opened_at: now,
        opened_by: reviewer.name.clone(),
    };
    store.kyt_create_case(case, first).await.map_err(conflict)?;
    view(store, &id).await
}

fn payload_json(action: &Action) -> Result<String, KytError> {
    serde_json::to_string(&action.payload()).map_err(|e| KytError::Invalid(format!("payload: {e}")))
}

fn conflict(e: StoreError) -> KytError {
    match e {
        StoreError::Conflict(m) => KytError::Conflict(m),
        other => KytError::Store(other),
    }
}

/// Append `action` by `reviewer` to a case; refuses a case whose chain is broken.
pub async fn act(
    store: &Store,
    reviewer: &Reviewer,
    case_id: &str,
    action: &Action,
    now: i64,
) -> Result<CaseView, KytError> {
    need_scope(reviewer, action.scope())?;
    let current = view(store, case_id).await?;
    if !current.problems.is_empty() {
        return Err(KytError::Conflict(format!(
            "case {case_id} fails its hash-chain check ({}); nothing is appended to it",
            current.problems[0].detail
        )));
    }
    apply(current.state.as_ref(), &reviewer.name, action)?;
    let last = current.events.last();
    let mut e = CaseEvent {
        case_id: case_id.to_owned(),
        seq: current.events.len() as u64,
        at: now,
        actor: reviewer.name.clone(),
        action: action.name().to_owned(),
        payload: payload_json(action)?,
        prev_hash: last.map_or_else(|| GENESIS.to_owned(), |l| l.hash.clone()),
        hash: String::new(),
    };
    e.hash = event_hash(&e);
    store.kyt_append_event(e).await.map_err(conflict)?;
    view(store, case_id).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn note(s: &str) -> String {
        s.to_owned()
    }

    #[test]
    fn four_eyes_and_notes() {
        let s = apply(None, "ann", &Action::Open { note: note("look") }).unwrap();
        let e = apply(
            Some(&s),
            "ann",
            &Action::Disposition {
                disposition: Disposition::TrueMatch,
                note: note(" "),
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs a note"));
        let s = apply(
            Some(&s),
            "ann",
            &Action::Disposition {
                disposition: Disposition::TrueMatch,
                note: note("it is"),
            },
        )
        .unwrap();
        assert_eq!(s.status, CaseStatus::PendingApproval);
        let e = apply(
            Some(&s),
            "ann",
            &Action::Approve {
                note: String::new(),
            },
        )
        .unwrap_err();
        assert!(matches!(e, KytError::Forbidden(_)), "{e}");
        let s = apply(
            Some(&s),
            "bob",
            &Action::Approve {
                note: String::new(),
            },
        )
        .unwrap();
        assert_eq!(s.status, CaseStatus::Closed);
        assert_eq!(s.approved_by.as_deref(), Some("bob"));
        let s = apply(
            Some(&s),
            "bob",
            &Action::Reopen {
                note: note("new facts"),
            },
        )
        .unwrap();
        assert_eq!(s.status, CaseStatus::Open);
        let s = apply(
            Some(&s),
            "bob",
            &Action::Disposition {
                disposition: Disposition::FalsePositive,
                note: note("no"),
            },
        )
        .unwrap();
        assert_eq!(s.status, CaseStatus::Closed);
    }

    #[test]
    fn the_hash_covers_every_field() {
        let mut e = CaseEvent {
            case_id: "c-1".into(),
            seq: 0,
            at: 5,
            actor: "ann".into(),
            action: "open".into(),
            payload: "{\"note\":\"x\"}".into(),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        };
        e.hash = event_hash(&e);
        assert!(verify_events("c-1", std::slice::from_ref(&e)).is_empty());
        for edit in [
            |e: &mut CaseEvent| e.actor = "eve".into(),
            |e: &mut CaseEvent| e.payload = "{\"note\":\"y\"}".into(),
            |e: &mut CaseEvent| e.at = 6,
        ] {
            let mut t = e.clone();
            edit(&mut t);
            assert!(!verify_events("c-1", &[t]).is_empty());
        }
    }
}
