//! A server that wants a token on every stream: the checks that write their own requests
//! (S01's stalled subscriber, S02's churn) carry the user's `--header`s, so they reach the
//! stream handler and not the 401 answer in front of it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ssekit_check::check_command::{build_target, CheckArgs};
use ssekit_check::checks::Status;
use ssekit_check::target::{InProcessPublish, Publisher};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_requests_carry_the_users_headers() {
    let server = Arc::new(
        ssekit_server::start(ssekit_server::Config {
            subscribe_token: Some("t0ken".to_owned()),
            tick: Some(Duration::from_millis(200)),
            heartbeat: Some(Duration::from_secs(1)),
            ..ssekit_server::Config::default()
        })
        .await
        .expect("the reference server starts"),
    );
    let args = CheckArgs {
        url: Some(format!("http://{}/stream", server.local_addr())),
        headers: vec!["Authorization: Bearer t0ken".to_owned()],
        ..common::args(&["S01", "S02"])
    };
    let mut target = build_target(&args).await.expect("the target is valid");
    // Published in process, as fast as the embedded target does it: an HTTP hook on a loaded
    // machine may publish too little in S01's window to back up a stalled reader.
    let handle = Arc::clone(&server);
    let publish: InProcessPublish = Arc::new(move |event, data| {
        let handle = Arc::clone(&handle);
        Box::pin(async move {
            handle
                .publish(None, event.as_deref(), &data)
                .await
                .map_err(|e| e.to_string())
        })
    });
    target.publish = Some(Publisher::InProcess(publish));
    let report = common::run_target(target, &args).await;
    let metrics = server.metrics();
    for id in ["S01", "S02"] {
        let (got, observed) = common::result(&report, id);
        assert_eq!(got, Status::Pass, "{id}: {observed}");
    }
    // S01's stalled subscriber was let in, and dropped for falling behind (its connection cut,
    // as it never read the end of its stream).
    assert!(metrics.lagging_dropped >= 1, "{metrics:?}");
    assert!(metrics.sse.closes.lagging >= 1, "{:?}", metrics.sse);
    // A third of S02's 200 quick cycles are complete requests: each opened a stream.
    assert!(metrics.sse.total >= 60, "{:?}", metrics.sse);
    if let Ok(server) = Arc::try_unwrap(server) {
        server.shutdown().await;
    }
}
