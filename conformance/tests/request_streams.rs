//! `ssekit check --profile openai|anthropic` against the reference server's mock endpoints:
//! the healthy streams pass, and every mock misbehaviour switch is caught by the P check
//! whose rule it breaks, with the cause in the check's text.

mod common;

use common::expect;
use std::time::Duration;

use ssekit_check::check_command::{CheckArgs, ProfileArg};
use ssekit_check::checks::Status;
use ssekit_check::report::Report;
use ssekit_server::{Config, Misbehavior};

/// Starts `ssekit serve` in-process with 1 s heartbeats and `switches`; returns its base URL
/// and the handle that keeps it running.
async fn serve(switches: &[Misbehavior]) -> (String, ssekit_server::ServerHandle) {
    let config = Config {
        heartbeat: Some(Duration::from_secs(1)),
        ..Config::default()
    }
    .with_misbehaviors(switches);
    let handle = ssekit_server::start(config).await.expect("server starts");
    (format!("http://{}", handle.local_addr()), handle)
}

/// Runs the P checks (and H01/H02) against `path` on a server with `switches`.
async fn check(switches: &[Misbehavior], profile: ProfileArg, path: &str) -> Report {
    let (base, _server) = serve(switches).await;
    let args = CheckArgs {
        only: ["P", "H01", "H02"].map(String::from).to_vec(),
        heartbeat_max: Duration::from_millis(1500),
        ..common::profile_args(profile, format!("{base}{path}"))
    };
    common::run_args(&args).await
}
const OPENAI: &str = "/v1/chat/completions";
const ANTHROPIC: &str = "/v1/messages";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_openai_stream_passes() {
    let r = check(&[], ProfileArg::Openai, OPENAI).await;
    for id in ["P01", "P02", "P03", "P04", "P05", "P06", "P07", "H02"] {
        expect(&r, id, Status::Pass, "");
    }
    expect(&r, "P02", Status::Pass, "then [DONE]");
    assert_eq!(r.exit_code(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_anthropic_stream_passes() {
    let r = check(&[], ProfileArg::Anthropic, ANTHROPIC).await;
    expect(&r, "P01", Status::Pass, "ended cleanly");
    expect(&r, "P02", Status::Pass, "anthropic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_mid_stream_arrives_as_an_event() {
    let r = check(&[], ProfileArg::Openai, &format!("{OPENAI}?fail_after=3")).await;
    expect(&r, "P06", Status::Pass, "the error arrived as an event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_until_done_is_a_burst() {
    // 16 tokens 100 ms apart: a burst after 1.6 s, not a fast answer written at once.
    let path = format!("{OPENAI}?token_ms=100");
    let r = check(&[Misbehavior::BufferUntilDone], ProfileArg::Openai, &path).await;
    expect(&r, "P04", Status::Warn, "arrived in one read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_done_sentinel_is_named() {
    let r = check(&[Misbehavior::NoDoneSentinel], ProfileArg::Openai, OPENAI).await;
    expect(&r, "P02", Status::Warn, "without `data: [DONE]`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_mid_stream_fails_p01() {
    let r = check(
        &[Misbehavior::CutMidStream],
        ProfileArg::Anthropic,
        ANTHROPIC,
    )
    .await;
    let p01 = r.results.iter().find(|x| x.check.id == "P01").expect("P01");
    assert_eq!(p01.status, Status::Fail, "{}", p01.observed);
    assert!(p01.observed.contains("ended inside"), "{}", p01.observed);
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_as_reset_is_named_by_p06() {
    let path = format!("{OPENAI}?fail_after=3");
    let r = check(&[Misbehavior::ErrorAsReset], ProfileArg::Openai, &path).await;
    expect(&r, "P06", Status::Warn, "cut by a connection error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_think_is_flagged_by_p05() {
    let path = format!("{OPENAI}?think_ms=2500");
    let r = check(&[Misbehavior::SilentThink], ProfileArg::Openai, &path).await;
    expect(&r, "P05", Status::Warn, "without a byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_think_with_heartbeats_passes_p05() {
    let path = format!("{OPENAI}?think_ms=2500");
    let r = check(&[], ProfileArg::Openai, &path).await;
    expect(&r, "P05", Status::Pass, "longest silence");
}

/// With no URL, `--profile NAME` checks the embedded server's mock endpoint for the protocol
/// (MCP with a `count` call, which it streams), not its endless `/stream` as if it were one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_url_checks_the_embedded_mock_of_the_profile() {
    for profile in [ProfileArg::Openai, ProfileArg::Anthropic, ProfileArg::Mcp] {
        let args = CheckArgs {
            profile: vec![profile],
            only: ["P01", "P02", "P03"].map(String::from).to_vec(),
            stream_max: Duration::from_secs(10),
            ..common::args(&[])
        };
        let report = common::run_args(&args).await;
        for id in ["P01", "P02", "P03"] {
            let (got, observed) = common::result(&report, id);
            assert_eq!(got, Status::Pass, "{profile:?} {id}: {observed}");
        }
    }
}

/// A finite stream with no URL and no profile has nothing to check: the embedded server's
/// `/stream` never ends, and the error says what to give instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_url_and_finite_without_a_profile_is_refused() {
    let args = CheckArgs {
        finite: true,
        ..common::args(&[])
    };
    let error = ssekit_check::check_command::build_target(&args)
        .await
        .expect_err("refused");
    let text = error.to_string();
    assert!(text.contains("--profile openai|anthropic|mcp"), "{text}");
}
