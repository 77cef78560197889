//! `ssekit-load` against the reference server on loopback: every healthy reader gets every
//! published event once, in order, with a latency; a stalled reader does not break the run.

use std::time::Duration;

use ssekit_benches::load::{self, LoadConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_readers_get_every_event_once() {
    let server = ssekit_server::start(ssekit_server::Config::default())
        .await
        .expect("reference server starts on an ephemeral port");
    let addr = server.local_addr();
    let config = LoadConfig {
        url: load::parse_uri(&format!("http://{addr}/stream?topic=bench")).unwrap(),
        connections: 5,
        duration: Duration::from_millis(1500),
        publish: Some(load::parse_uri(&format!("http://{addr}/publish")).unwrap()),
        topic: Some("bench".into()),
        rate: 40.0,
        stall: 1,
        drain: Duration::from_millis(500),
    };
    let report = tokio::time::timeout(Duration::from_secs(30), load::run(config))
        .await
        .expect("the load run ends within its bounds")
        .expect("the load run starts");
    assert_eq!(
        (report.connected, report.failed),
        (5, 0),
        "{}",
        report.render()
    );
    assert_eq!(report.publish_errors, 0, "{}", report.render());
    assert!(report.published >= 20, "{}", report.render());
    assert_eq!(report.events_min, report.published, "{}", report.render());
    assert_eq!(report.events_max, report.published, "{}", report.render());
    assert_eq!(
        (report.missing, report.duplicates),
        (0, 0),
        "{}",
        report.render()
    );
    assert_eq!(
        report.latency.len(),
        4 * report.published,
        "{}",
        report.render()
    );
    assert!(report.latency.value_at_quantile(0.5) > 0);
    server.shutdown().await;
}

#[tokio::test]
async fn refuses_non_loopback_targets() {
    let config = LoadConfig {
        url: load::parse_uri("http://192.0.2.1:80/stream").unwrap(),
        connections: 1,
        duration: Duration::from_millis(10),
        publish: None,
        topic: None,
        rate: 1.0,
        stall: 0,
        drain: Duration::ZERO,
    };
    let err = load::run(config).await.unwrap_err();
    assert!(err.contains("loopback"), "{err}");
}
