//! The signals waiting for the publisher: a bounded ring in memory, oldest dropped first.
//!
//! The signals stage pushes, the publisher pops whenever it is connected. While the broker is
//! unreachable the ring fills; from then on each new signal pushes out the oldest one, so what
//! goes out on reconnect is the latest `[mqtt.topics.signals] queue` values. The ring is shared
//! (`Clone`), so a publisher that a reload replaces hands it to its successor.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::metrics::{Counter, Registry};
use crate::wire::signals::SignalMessage;

/// The JSON signals' ring (`{prefix}/signals/…`).
pub type SignalQueue = Ring<SignalMessage>;

/// Shared bounded ring, oldest dropped first; see the module docs.
#[derive(Debug)]
pub struct Ring<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Ring<T> {
    fn clone(&self) -> Self {
        Ring {
            inner: self.inner.clone(),
        }
    }
}

#[derive(Debug)]
struct Inner<T> {
    ring: Mutex<VecDeque<T>>,
    capacity: usize,
    ready: Notify,
    /// `chocoline_signals_total{outcome="published"}`: handed to the MQTT client.
    published: Counter,
    /// `chocoline_signals_total{outcome="dropped"}`: pushed out of a full ring.
    dropped: Counter,
}

impl SignalQueue {
    /// A ring of `capacity` signals (at least 1) whose counters are in `metrics`.
    pub fn new(capacity: usize, metrics: &Registry) -> Self {
        let counter = |outcome| outcome_counter(metrics, outcome);
        Ring::with_counters(capacity, counter("published"), counter("dropped"))
    }
}

impl<T> Ring<T> {
    /// A ring of `capacity` items (at least 1) counting what it hands out and drops.
    pub fn with_counters(capacity: usize, published: Counter, dropped: Counter) -> Self {
        let capacity = capacity.max(1);
        Ring {
            inner: Arc::new(Inner {
                ring: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
                capacity,
                ready: Notify::new(),
                published,
                dropped,
            }),
        }
    }

    /// Add a signal; when the ring is full the oldest one is dropped (and counted).
    pub fn push(&self, m: T) {
        {
            let mut ring = self.lock();
            if ring.len() >= self.inner.capacity {
                ring.pop_front();
                self.inner.dropped.inc();
            }
            ring.push_back(m);
        }
        self.inner.ready.notify_one();
    }

    /// The oldest waiting signal.
    pub fn pop(&self) -> Option<T> {
        self.lock().pop_front()
    }

    /// Put back a signal the client could not take (its queue was full): it goes out first
    /// next time, unless the ring has filled up behind it in the meantime.
    pub fn put_back(&self, m: T) {
        let mut ring = self.lock();
        if ring.len() >= self.inner.capacity {
            self.inner.dropped.inc();
        } else {
            ring.push_front(m);
        }
    }

    /// Count one signal as published.
    pub fn published(&self) {
        self.inner.published.inc();
    }

    /// Count `n` taken out and handed to the client at once.
    pub fn published_n(&self, n: u64) {
        self.inner.published.add(n);
    }

    /// Signals waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no signal waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Signals dropped so far.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.get()
    }

    /// Resolves once a signal was pushed since the last time it resolved (or at once if one
    /// was pushed while nobody waited).
    pub async fn pushed(&self) {
        self.inner.ready.notified().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        // A panic while holding the lock leaves a consistent ring (every operation is one
        // push or pop), so a poisoned lock is used as it is.
        self.inner
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// `chocoline_signals_total{outcome}`: published (handed to the MQTT client), dropped (pushed
/// out of the full ring) or suppressed (held back by report by exception).
pub fn outcome_counter(metrics: &Registry, outcome: &str) -> Counter {
    metrics.counter(
        "chocoline_signals_total",
        "Raw signals by outcome: published (handed to the MQTT client, QoS 0), dropped (pushed out of the full in-memory queue while the broker was unreachable), suppressed (held back by report by exception).",
        &[("outcome", outcome)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(i: usize) -> SignalMessage {
        SignalMessage {
            topic: format!("p/signals/s{i}"),
            payload: vec![],
        }
    }

    #[test]
    fn a_full_ring_drops_the_oldest_and_counts_it() {
        let reg = Registry::new();
        let q = SignalQueue::new(3, &reg);
        (0..5).for_each(|i| q.push(m(i)));
        assert_eq!(q.len(), 3);
        assert_eq!(q.dropped(), 2);
        let left: Vec<_> = std::iter::from_fn(|| q.pop()).map(|m| m.topic).collect();
        assert_eq!(left, ["p/signals/s2", "p/signals/s3", "p/signals/s4"]);
        let read = |o| reg.read("chocoline_signals_total", &[("outcome", o)]);
        assert_eq!(read("dropped"), Some(2.0));
    }

    #[test]
    fn put_back_goes_first_unless_the_ring_filled_up() {
        let q = SignalQueue::new(2, &Registry::new());
        q.push(m(0));
        q.push(m(1));
        let first = q.pop().unwrap();
        q.put_back(first);
        assert_eq!(q.pop().unwrap().topic, "p/signals/s0");
        q.push(m(2));
        q.put_back(m(9));
        assert_eq!(
            q.dropped(),
            1,
            "no room: the put-back one is dropped, not a newer one"
        );
        assert_eq!(q.pop().unwrap().topic, "p/signals/s1");
    }

    #[tokio::test]
    async fn a_push_wakes_the_waiting_publisher_even_if_it_came_first() {
        let q = SignalQueue::new(4, &Registry::new());
        q.push(m(0));
        tokio::time::timeout(std::time::Duration::from_secs(5), q.pushed())
            .await
            .expect("the permit of a push made before waiting");
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.pushed().await }
        });
        tokio::task::yield_now().await;
        q.push(m(1));
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
