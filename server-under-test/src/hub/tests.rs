//! The hub's behaviour end to end: fan-out, lag eviction, heartbeats, the ring's bounds.

use super::lag::{EVICTION_GRACE, LAG_GRACE};
use super::*;
use std::task::{Context, Poll, Wake};

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn hub(capacity: usize, max_lag_events: u64) -> Arc<Hub> {
    let limits = limits(capacity, max_lag_events);
    Arc::new(Hub::new(limits, Behaviour::default(), Arc::default()))
}

/// `lossy-queue`: the sixth unsent event drops the subscriber, whose stream stays open
/// (no `Closed`) and gets nothing more; a subscriber within its queue keeps receiving.
#[cfg(feature = "misbehave")]
#[tokio::test]
async fn lossy_queue_drops_a_full_subscriber_silently() {
    let limits = HubLimits {
        capacity: 64,
        capacity_bytes: u64::MAX,
        max_lag_events: 64,
        max_lag_bytes: u64::MAX,
        max_streams: None,
    };
    let lossy = crate::Misbehaviors::from_list(&[crate::Misbehavior::LossyQueue]);
    let hub = Arc::new(Hub::new(limits, lossy, Arc::default()));
    let mut kept = subscribe(&hub);
    let mut dropped = subscribe(&hub);
    publish(&hub, 5);
    let event = std::future::poll_fn(|cx| kept.poll_next(cx, false)).await;
    assert!(matches!(event, Next::Event(_)));
    publish(&hub, 1);
    let wait = std::time::Duration::from_millis(50);
    let silent = tokio::time::timeout(
        wait,
        std::future::poll_fn(|cx| dropped.poll_next(cx, false)),
    )
    .await;
    assert!(silent.is_err(), "a dropped subscriber gets nothing");
    let event = std::future::poll_fn(|cx| kept.poll_next(cx, false)).await;
    assert!(matches!(event, Next::Event(_)), "within its queue: kept");
}

/// `slow-consumer-blocks`: a publish waits while a stream is 16 events behind, and goes on
/// once it has caught up.
#[cfg(feature = "misbehave")]
#[tokio::test]
async fn a_blocked_publisher_goes_on_once_the_slowest_catches_up() {
    let block = crate::Misbehaviors::from_list(&[crate::Misbehavior::SlowConsumerBlocks]);
    let hub = Arc::new(Hub::new(limits(64, 64), block, Arc::default()));
    let mut sub = subscribe(&hub);
    publish(&hub, 16);
    let blocked = hub.publish(None, None, "x");
    tokio::pin!(blocked);
    let wait = std::time::Duration::from_millis(30);
    assert!(tokio::time::timeout(wait, &mut blocked).await.is_err());
    assert_eq!(drain(&mut sub), 16);
    let id = tokio::time::timeout(std::time::Duration::from_secs(5), blocked)
        .await
        .expect("published once the stream caught up")
        .unwrap();
    assert_eq!(id, hub.id_of(17));
}

/// A well-behaved hub encodes with the serializer and evicts lagging streams.
#[test]
fn the_well_behaved_hub_resolves_standard_frames_and_eviction() {
    let hub = hub(10, 10);
    assert!(matches!(hub.frames, Frames::Standard));
    assert_eq!(hub.flow, Flow::Evict);
}

fn limits(capacity: usize, max_lag_events: u64) -> HubLimits {
    HubLimits {
        capacity,
        capacity_bytes: u64::MAX,
        max_lag_events,
        max_lag_bytes: u64::MAX,
        max_streams: None,
    }
}

fn subscribe(hub: &Arc<Hub>) -> Subscription {
    let conn = Arc::new(ConnControl::new(([127, 0, 0, 1], 1).into()));
    match hub.subscribe(None, Topics::default(), conn) {
        Subscribed::Open(sub, ..) => sub,
        Subscribed::OverCapacity => unreachable!("no cap"),
    }
}

fn publish(hub: &Hub, n: usize) {
    for _ in 0..n {
        hub.publish_now(None, None, "x").unwrap();
    }
}

fn next(sub: &mut Subscription) -> Poll<Next> {
    let waker = std::task::Waker::from(Arc::new(Noop));
    sub.poll_next(&mut Context::from_waker(&waker), true)
}

fn drain(sub: &mut Subscription) -> usize {
    let mut n = 0;
    while let Poll::Ready(Next::Event(_)) = next(sub) {
        n += 1;
    }
    n
}

#[test]
fn a_burst_caught_up_within_the_grace_is_not_dropped() {
    let hub = hub(100, 5);
    let mut sub = subscribe(&hub);
    publish(&hub, 20);
    let t0 = Instant::now();
    hub.tick_at(false, t0);
    hub.tick_at(false, t0 + LAG_GRACE / 2);
    assert_eq!(drain(&mut sub), 20);
    hub.tick_at(false, t0 + LAG_GRACE * 2);
    assert_eq!(hub.metrics.snapshot().lagging_dropped, 0);
    publish(&hub, 1);
    assert!(matches!(next(&mut sub), Poll::Ready(Next::Event(_))));
}

#[test]
fn staying_over_the_limit_for_the_grace_evicts_at_an_event_boundary() {
    let hub = hub(100, 5);
    let mut sub = subscribe(&hub);
    publish(&hub, 20);
    let t0 = Instant::now();
    assert!(hub.tick_at(false, t0).is_empty());
    assert!(hub.tick_at(false, t0 + LAG_GRACE).is_empty());
    assert_eq!(hub.metrics.snapshot().lagging_dropped, 1);
    assert!(matches!(
        next(&mut sub),
        Poll::Ready(Next::Closed(CloseReason::Lagging))
    ));
    // Still registered (never polled again): its connection is cut after the grace.
    let cut = hub.tick_at(false, t0 + LAG_GRACE + EVICTION_GRACE);
    assert_eq!(cut.len(), 1);
}

#[test]
fn falling_off_the_ring_ends_the_stream_at_once() {
    let hub = hub(10, 1000);
    let mut sub = subscribe(&hub);
    publish(&hub, 11);
    assert!(matches!(
        next(&mut sub),
        Poll::Ready(Next::Closed(CloseReason::Lagging))
    ));
    assert_eq!(hub.metrics.snapshot().lagging_dropped, 1);
}

#[test]
fn idle_subscribers_get_a_heartbeat_after_a_whole_interval() {
    let hub = hub(10, 10);
    let mut sub = subscribe(&hub);
    for _ in 0..HEARTBEAT_TICKS - 1 {
        hub.tick_at(true, Instant::now());
        assert!(next(&mut sub).is_pending());
    }
    hub.tick_at(true, Instant::now());
    assert!(matches!(next(&mut sub), Poll::Ready(Next::Heartbeat)));
    assert!(next(&mut sub).is_pending());
}

#[test]
fn the_ring_is_bounded_in_bytes_too() {
    let limits = HubLimits {
        capacity: 100,
        capacity_bytes: 200,
        max_lag_events: 100,
        max_lag_bytes: u64::MAX,
        max_streams: None,
    };
    let hub = Hub::new(limits, Behaviour::default(), Arc::default());
    for _ in 0..10 {
        hub.publish_now(None, None, &"x".repeat(30)).unwrap();
    }
    let m = hub.metrics.snapshot();
    // Each frame is about 57 bytes (`id: EPOCH-N`, 30 bytes of data): three fit in 200.
    assert!(m.ring_events == 3 && m.ring_bytes <= 200, "{m:?}");
    assert_eq!(hub.window().head, 10);
    assert_eq!(hub.window().oldest, 10 - m.ring_events + 1);
    hub.publish_now(None, None, &"y".repeat(500)).unwrap();
    assert_eq!(
        hub.metrics.snapshot().ring_events,
        1,
        "the newest event always stays"
    );
}

#[test]
fn dropping_a_subscription_frees_its_slot() {
    let hub = hub(10, 10);
    let a = subscribe(&hub);
    let b = subscribe(&hub);
    drop(a);
    let c = subscribe(&hub);
    assert_eq!(c.slot, 0, "slot reused");
    drop((b, c));
    assert_eq!(hub.lock().slots.streams(), 0);
    assert_eq!(hub.metrics.snapshot().streams_open, 0);
}

#[test]
fn drain_ready_gathers_what_waits_up_to_the_size_and_in_topic() {
    let hub = hub(100, 50);
    let conn = Arc::new(ConnControl::new(([127, 0, 0, 1], 1).into()));
    let Subscribed::Open(mut sub, ..) = hub.subscribe(None, Topics::new(vec!["a".into()]), conn)
    else {
        unreachable!("no cap")
    };
    for i in 0..10 {
        let topic = if i % 2 == 0 { "a" } else { "b" };
        hub.publish_now(Some(topic), None, &format!("e{i}"))
            .unwrap();
    }
    let Poll::Ready(Next::Event(first)) = next(&mut sub) else {
        panic!("an event waits")
    };
    let one = first.len();
    // Room for three more events of topic "a": e2, e4, e6; e8 stays for later.
    let d = sub.drain_ready(first, one * 4);
    assert_eq!((d.events, d.closed), (3, None));
    let text = String::from_utf8(d.piece.to_vec()).unwrap();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data, ["e0", "e2", "e4", "e6"]);
    assert_eq!(drain(&mut sub), 1, "e8 is still there");
}
