//! Events older than this node's ring, replayed from Redis for a resuming subscriber: paged
//! `XRANGE` on a task of its own, one page ahead of the client, so the gap costs a page of
//! memory rather than all of it. Each transport writes the frames its own way.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Broker, StreamId};
use crate::hub::Topics;
use crate::metrics::Metrics;

/// Entries fetched per `XRANGE` page while replaying (events may be up to 1 MiB each: a page,
/// not the whole gap, is what a resuming client costs in memory).
const PAGE: usize = 64;

/// A page of replayed `text/event-stream` frames (one per event, topic-filtered), or why the
/// replay broke off.
pub(crate) type Page = Result<Vec<Bytes>, String>;

/// A replay in progress: pages arrive as the client takes them.
pub(crate) struct Replay {
    pages: mpsc::Receiver<Page>,
    broker: Arc<Broker>,
    metrics: Arc<Metrics>,
}

impl Replay {
    /// Replays `(from, upto]` on its own task; the channel holds one page, so pages are
    /// fetched only as fast as the client reads them.
    pub fn spawn(
        broker: Arc<Broker>,
        from: StreamId,
        upto: StreamId,
        topics: Topics,
        metrics: Arc<Metrics>,
    ) -> Replay {
        let (tx, pages) = mpsc::channel(1);
        tokio::spawn(fetch(Arc::clone(&broker), from, upto, topics, tx));
        Replay {
            pages,
            broker,
            metrics,
        }
    }

    /// The next page (counted as replayed), `None` once the replay is complete. After an
    /// `Err` the subscriber must end at this event boundary: its client resumes from its last
    /// id and is told if that is no longer possible.
    pub fn poll_page(&mut self, cx: &mut Context<'_>) -> Poll<Option<Page>> {
        let page = std::task::ready!(self.pages.poll_recv(cx));
        match &page {
            Some(Ok(frames)) => {
                let n = frames.len() as u64;
                Metrics::add(&self.metrics.replayed_events, n);
                self.broker.stats.replayed.fetch_add(n, Relaxed);
            }
            Some(Err(why)) => tracing::warn!(%why, "replay from Redis broke off: subscriber ended"),
            None => {}
        }
        Poll::Ready(page)
    }
}

async fn fetch(
    broker: Arc<Broker>,
    mut from: StreamId,
    upto: StreamId,
    topics: Topics,
    tx: mpsc::Sender<Page>,
) {
    while from < upto {
        let page = match broker.range(from, &upto.to_string(), PAGE + 1).await {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(Err(format!("redis: {e}"))).await;
                return;
            }
        };
        // Each page starts at the last id already sent: finding it again proves nothing
        // between the pages was trimmed away.
        if page.first().map(|s| s.id) != Some(from) {
            let _ = tx
                .send(Err(format!("{from} left Redis during the replay")))
                .await;
            return;
        }
        let full = page.len() == PAGE + 1;
        let frames: Vec<Bytes> = page[1..]
            .iter()
            .filter(|stored| topics.matches(stored.topic.as_deref()))
            .map(|stored| stored.frame.clone())
            .collect();
        from = page.last().map_or(upto, |s| s.id);
        if !frames.is_empty() && tx.send(Ok(frames)).await.is_err() {
            return;
        }
        if !full {
            return;
        }
    }
}
