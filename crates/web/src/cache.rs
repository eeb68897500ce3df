//! A small read-through cache for page data, so that many readers of the same
//! page cost one store query per time-to-live.
//!
//! - A fresh value is served from memory.
//! - A stale value is still served, and one background refresh replaces it
//!   (stale-while-revalidate), so a slow query never blocks readers after the
//!   first time.
//! - A missing value is computed once; concurrent readers of the same key wait
//!   for that one computation.
//! - Errors are never cached. The number of keys is bounded; when full, the
//!   oldest entries are dropped.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::WebError;

type Value = Arc<dyn Any + Send + Sync>;

#[derive(Default)]
struct Slot {
    value: Option<(Instant, Value)>,
    refreshing: bool,
    first: Arc<tokio::sync::Mutex<()>>,
}

/// The cache; share it with `Arc`.
pub struct Cache {
    ttl: Duration,
    max_keys: usize,
    slots: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("ttl", &self.ttl)
            .field("max_keys", &self.max_keys)
            .finish_non_exhaustive()
    }
}

enum Look {
    Fresh(Value),
    Stale(Value, bool),
    Missing(Arc<tokio::sync::Mutex<()>>),
}

impl Cache {
    /// A cache whose values live `ttl`; a zero `ttl` caches nothing.
    pub fn new(ttl: Duration, max_keys: usize) -> Self {
        Cache {
            ttl,
            max_keys: max_keys.max(1),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the cache keeps nothing (a zero time-to-live).
    pub fn is_off(&self) -> bool {
        self.ttl.is_zero()
    }

    fn look(&self, key: &str) -> Look {
        let Ok(mut slots) = self.slots.lock() else {
            return Look::Missing(Arc::default());
        };
        let slot = slots.entry(key.to_owned()).or_default();
        match &slot.value {
            Some((at, v)) if at.elapsed() < self.ttl => Look::Fresh(v.clone()),
            Some((_, v)) => {
                let start = !slot.refreshing;
                slot.refreshing = true;
                Look::Stale(v.clone(), start)
            }
            None => Look::Missing(slot.first.clone()),
        }
    }

    fn put(&self, key: &str, value: Value) {
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        if slots.len() > self.max_keys {
            // Drop the oldest half (and entries never filled).
            let mut ages: Vec<(Instant, String)> = slots
                .iter()
                .filter_map(|(k, s)| s.value.as_ref().map(|(at, _)| (*at, k.clone())))
                .collect();
            ages.sort();
            slots.retain(|k, s| s.value.is_some() || k == key);
            for (_, k) in ages.iter().take(ages.len() / 2 + 1) {
                if k != key {
                    slots.remove(k);
                }
            }
        }
        let slot = slots.entry(key.to_owned()).or_default();
        slot.value = Some((Instant::now(), value));
        slot.refreshing = false;
    }

    fn refresh_failed(&self, key: &str) {
        if let Ok(mut slots) = self.slots.lock()
            && let Some(slot) = slots.get_mut(key)
        {
            slot.refreshing = false;
        }
    }

    /// The value for `key`, computed by `compute` when needed.
    pub async fn get<T, F, Fut>(
        self: &Arc<Self>,
        key: String,
        compute: F,
    ) -> Result<Arc<T>, WebError>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, WebError>> + Send + 'static,
    {
        if self.ttl.is_zero() {
            return compute().await.map(Arc::new);
        }
        let downcast = |v: Value| {
            v.downcast::<T>()
                .map_err(|_| WebError::Render(format!("cache entry {key:?} has another type")))
        };
        match self.look(&key) {
            Look::Fresh(v) => downcast(v),
            Look::Stale(v, start) => {
                if start {
                    let this = self.clone();
                    let k = key.clone();
                    tokio::spawn(async move {
                        match compute().await {
                            Ok(new) => this.put(&k, Arc::new(new)),
                            Err(_) => this.refresh_failed(&k),
                        }
                    });
                }
                downcast(v)
            }
            Look::Missing(first) => {
                let _guard = first.lock().await;
                // Someone else may have filled it while we waited.
                if let Look::Fresh(v) | Look::Stale(v, _) = self.look(&key) {
                    self.refresh_failed(&key);
                    return downcast(v);
                }
                let value = Arc::new(compute().await?);
                self.put(&key, value.clone());
                Ok(value)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn computes_once_then_serves_stale_while_refreshing() {
        let cache = Arc::new(Cache::new(Duration::from_millis(50), 16));
        let calls = Arc::new(AtomicUsize::new(0));
        let get = |cache: Arc<Cache>, calls: Arc<AtomicUsize>| async move {
            cache
                .get("k".into(), move || async move {
                    Ok::<usize, WebError>(calls.fetch_add(1, Ordering::SeqCst))
                })
                .await
                .map(|v| *v)
        };
        assert_eq!(get(cache.clone(), calls.clone()).await.ok(), Some(0));
        assert_eq!(get(cache.clone(), calls.clone()).await.ok(), Some(0));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        // Stale: the old value, and one refresh in the background.
        assert_eq!(get(cache.clone(), calls.clone()).await.ok(), Some(0));
        for _ in 0..50 {
            if get(cache.clone(), calls.clone()).await.ok() == Some(1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(get(cache.clone(), calls.clone()).await.ok(), Some(1));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn errors_are_not_cached_and_keys_are_bounded() {
        let cache = Arc::new(Cache::new(Duration::from_secs(60), 4));
        let r = cache
            .get::<u8, _, _>("e".into(), || async { Err(WebError::bad("no")) })
            .await;
        assert!(r.is_err());
        let r = cache
            .get("e".into(), || async { Ok::<u8, WebError>(7) })
            .await;
        assert_eq!(r.ok().map(|v| *v), Some(7));
        for i in 0..20u8 {
            let _ = cache
                .get(
                    format!("k{i}"),
                    move || async move { Ok::<u8, WebError>(i) },
                )
                .await;
        }
        assert!(cache.slots.lock().map(|s| s.len()).unwrap_or(0) <= 6);
    }
}
