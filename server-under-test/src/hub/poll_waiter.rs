//! Long-poll waiters: a `/poll` request that found nothing new registers a slot (never
//! evicted) and waits for the next publish or its deadline.

use std::task::{Context, Poll};

use bytes::Bytes;

use super::subscribers::{Slot, SlotKind};
use super::{Hub, Topics};

impl Hub {
    /// Events after `after` matching `topics` (at most `max`), waiting until `deadline` for the
    /// first one. Returns them with the cursor reached (past skipped non-matching events).
    pub async fn wait_events(
        &self,
        after: u64,
        topics: &Topics,
        max: usize,
        deadline: tokio::time::Instant,
    ) -> (Vec<(u64, Bytes)>, u64) {
        let mut waiter = PollWaiter {
            hub: self,
            slot: None,
        };
        let collect = std::future::poll_fn(|cx| waiter.poll_collect(cx, after, topics, max));
        match tokio::time::timeout_at(deadline, collect).await {
            Ok(found) => found,
            // Nothing new: the cursor stays where it was.
            Err(_) => (Vec::new(), after),
        }
    }
}

/// A long-poll request's registration while it waits.
struct PollWaiter<'h> {
    hub: &'h Hub,
    slot: Option<usize>,
}

impl PollWaiter<'_> {
    fn poll_collect(
        &mut self,
        cx: &mut Context<'_>,
        after: u64,
        topics: &Topics,
        max: usize,
    ) -> Poll<(Vec<(u64, Bytes)>, u64)> {
        let mut st = self.hub.lock();
        let mut cursor = after;
        let mut found = Vec::new();
        for entry in st.ring.after(after) {
            if found.len() >= max {
                break;
            }
            cursor = entry.seq;
            if topics.matches(entry.topic.as_deref()) {
                found.push((entry.seq, entry.frame.clone()));
            }
        }
        if !found.is_empty() || st.closing {
            return Poll::Ready((found, cursor));
        }
        let waker = Some(cx.waker().clone());
        match self.slot {
            Some(i) => {
                if let Some(slot) = st.slots.get_mut(i) {
                    slot.waker = waker;
                }
            }
            None => {
                self.slot = Some(st.slots.insert(Slot {
                    waker,
                    cursor: after,
                    kind: SlotKind::Poll,
                }));
            }
        }
        Poll::Pending
    }
}

impl Drop for PollWaiter<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            self.hub.remove(i);
        }
    }
}
