//! `--max-requests`: the most requests a run may send that can start a generation (each a
//! billed answer on a paid endpoint). Run in process against the reference server's mock
//! endpoints, whose connection count says how many requests really arrived (the runner opens
//! one connection per request): P09 reports exactly that many, a check that needs more than
//! is left SKIPs saying how many it needs and which limit would do, and nothing is sent past
//! the limit.

mod common;

use common::{expect, result};
use ssekit_check::check_command::{build_target, CheckArgs, ProfileArg};
use ssekit_check::checks::Status;
use ssekit_check::report::Report;

const OPENAI: &str = "/v1/chat/completions";
/// An MCP `tools/call` the mock answers as a stream (progress, then the response).
const MCP_CALL: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"count","arguments":{"n":3},"_meta":{"progressToken":"p1"}}}"#;

/// Runs `only` against `path` on a fresh mock server with `--max-requests max`; returns the
/// report and how many connections (so requests) the server accepted.
async fn check(profile: ProfileArg, path: &str, max: Option<u32>, only: &[&str]) -> (Report, u64) {
    let data = (profile == ProfileArg::Mcp).then(|| MCP_CALL.to_owned());
    let server = ssekit_server::start(ssekit_server::Config::default())
        .await
        .expect("the mock starts");
    let url = format!("http://{}{path}", server.local_addr());
    let args = CheckArgs {
        only: only.iter().map(|s| (*s).to_owned()).collect(),
        max_requests: max,
        data,
        ..common::profile_args(profile, url)
    };
    let report = common::run_args(&args).await;
    (report, server.metrics().http_connections_total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_limit_p09_counts_every_request_the_server_received() {
    let (r, received) = check(ProfileArg::Openai, OPENAI, None, &["H", "P"]).await;
    // The baseline, H06's HTTP/2 request and P07's three concurrent ones.
    expect(&r, "P07", Status::Pass, "3 concurrent requests");
    expect(
        &r,
        "P09",
        Status::Info,
        "5 sent (baseline 1, H06 1, P07 3; no limit",
    );
    assert_eq!(received, 5, "P09 must count what the server received");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_needs_more_than_is_left_skips_and_names_the_limit_that_would_do() {
    let (r, received) = check(ProfileArg::Openai, OPENAI, Some(2), &["H", "P"]).await;
    expect(&r, "P07", Status::Skip, "P07 needs 3 request(s)");
    expect(&r, "P07", Status::Skip, "--max-requests 5 or more");
    expect(&r, "H06", Status::Pass, "");
    expect(
        &r,
        "P09",
        Status::Info,
        "2 sent (baseline 1, H06 1; --max-requests 2)",
    );
    // The checks that judge the baseline still judge it.
    expect(&r, "P02", Status::Pass, "[DONE]");
    assert_eq!(received, 2, "nothing may be sent past --max-requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_of_one_reads_only_the_baseline() {
    let (r, received) = check(ProfileArg::Anthropic, "/v1/messages", Some(1), &["H", "P"]).await;
    expect(&r, "H06", Status::Skip, "H06 needs 1 request(s)");
    expect(&r, "P07", Status::Skip, "--max-requests 1 has 0 left");
    expect(&r, "P01", Status::Pass, "ended cleanly");
    expect(
        &r,
        "P09",
        Status::Info,
        "1 sent (baseline 1; --max-requests 1)",
    );
    assert_eq!(received, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_session_requests_start_no_generation_and_are_not_counted() {
    let (r, _) = check(ProfileArg::Mcp, "/mcp", Some(1), &["P"]).await;
    // P08's own session (initialize, tools/list, GET, DELETE) runs on a budget of one.
    expect(&r, "P08", Status::Pass, "DELETE");
    expect(&r, "P07", Status::Skip, "P07 needs 3");
    let (_, p09) = result(&r, "P09");
    assert!(p09.starts_with("1 sent (baseline 1;"), "{p09}");
}

#[tokio::test]
async fn a_feed_has_no_generations_to_limit() {
    let args = CheckArgs {
        url: Some("http://127.0.0.1:9/events".into()),
        max_requests: Some(3),
        ..CheckArgs::default()
    };
    let e = build_target(&args).await.expect_err("refused");
    assert!(e.to_string().contains("--max-requests"), "{e}");
    assert!(e.to_string().contains("--finite"), "{e}");
}
