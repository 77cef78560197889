//! Proves the checks: for every misbehaviour switch of the reference server, the runner reports
//! FAIL (MUST) or WARN (SHOULD) on the matching check; the healthy server passes every check.

mod common;

use common::{result as status, run};
use std::time::Duration;

use ssekit_check::checks::Status;
use ssekit_server::Misbehavior;

/// `healthy_server_passes_every_check` shows each of these checks passing without the switch.
async fn expect(m: Misbehavior, only: &[&str], id: &str, want: Status) {
    let report = run(&[m], only).await;
    let (got, observed) = status(&report, id);
    assert_eq!(
        got, want,
        "{m:?}: {id} should be {want}, observed: {observed}"
    );
}

macro_rules! proves {
    ($name:ident, $m:ident, [$($only:literal),+], $id:literal, $want:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            expect(Misbehavior::$m, &[$($only),+], $id, Status::$want).await;
        }
    };
}

proves!(
    wrong_content_type_fails_h02,
    WrongContentType,
    ["H02"],
    "H02",
    Fail
);
proves!(
    non_utf8_charset_warns_h03,
    NonUtf8Charset,
    ["H03"],
    "H03",
    Warn
);
proves!(cacheable_warns_h04, Cacheable, ["H04"], "H04", Warn);
proves!(
    content_length_warns_h05,
    ContentLength,
    ["H05"],
    "H05",
    Warn
);
proves!(buffered_warns_t01, Buffered, ["T01"], "T01", Warn);
proves!(buffered_warns_k03, Buffered, ["K03"], "K03", Warn);
proves!(gzip_no_flush_warns_h07, GzipNoFlush, ["H07"], "H07", Warn);
proves!(no_heartbeat_warns_k01, NoHeartbeat, ["K01"], "K01", Warn);
proves!(no_ids_warns_i01, NoIds, ["I01"], "I01", Warn);
proves!(duplicate_ids_warn_i02, DuplicateIds, ["I02"], "I02", Warn);
proves!(
    non_monotonic_ids_warn_i02,
    NonMonotonicIds,
    ["I02"],
    "I02",
    Warn
);
proves!(id_with_nul_warns_f05, IdWithNul, ["F05"], "F05", Warn);
proves!(replay_gap_warns_i03, ReplayGap, ["I03"], "I03", Warn);
proves!(
    replay_duplicate_warns_i03,
    ReplayDuplicate,
    ["I03"],
    "I03",
    Warn
);
proves!(
    replay_ignored_warns_i03,
    ReplayIgnored,
    ["I03"],
    "I03",
    Warn
);
proves!(silent_reset_warns_i04, SilentReset, ["I04"], "I04", Warn);
proves!(bad_retry_warns_f06, BadRetry, ["F06"], "F06", Warn);
proves!(retry_zero_warns_r01, RetryZero, ["R01"], "R01", Warn);
proves!(
    crlf_in_event_name_warns_f02,
    CrlfInEventName,
    ["F02"],
    "F02",
    Warn
);
proves!(invalid_utf8_fails_f01, InvalidUtf8, ["F01"], "F01", Fail);
proves!(
    cut_at_close_fails_f03,
    CutAtClose,
    ["F03", "R04"],
    "F03",
    Fail
);
proves!(
    cut_at_close_fails_r03,
    CutAtClose,
    ["R03", "R04"],
    "R03",
    Fail
);
proves!(
    error_on_last_event_id_warns_i03,
    ErrorOnLastEventId,
    ["I03"],
    "I03",
    Warn
);
proves!(
    error_on_last_event_id_warns_i05,
    ErrorOnLastEventId,
    ["I05"],
    "I05",
    Warn
);
proves!(
    error_on_last_event_id_warns_h11,
    ErrorOnLastEventId,
    ["I05", "H11"],
    "H11",
    Warn
);
/// hyper rejects the head without keeping it; H06 reads it raw to name the field and value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_connection_header_fails_h06() {
    let report = run(&[Misbehavior::H2ConnectionHeader], &["H06"]).await;
    let (got, observed) = status(&report, "H06");
    assert_eq!(got, Status::Fail, "observed: {observed}");
    assert!(
        observed.ends_with(": connection: keep-alive (RFC 9113 §8.2.2)"),
        "observed: {observed}"
    );
}
proves!(
    eof_instead_of_204_warns_h10,
    EofInsteadOf204,
    ["H10"],
    "H10",
    Warn
);
proves!(
    slow_consumer_blocks_warns_s01,
    SlowConsumerBlocks,
    ["S01"],
    "S01",
    Warn
);
proves!(
    shutdown_hangs_warns_r04,
    ShutdownHangs,
    ["R04"],
    "R04",
    Warn
);

/// Checks that cannot run against the embedded server, each with its reason.
const EXPECTED_SKIPS: [&str; 7] = ["I07", "K04", "T05", "T06", "S05", "C03", "C04"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_server_passes_every_check() {
    let report = run(&[], &[]).await;
    assert_eq!(report.results.len(), 58);
    for r in &report.results {
        match r.status {
            Status::Pass | Status::Info => {}
            Status::Skip => {
                assert!(
                    EXPECTED_SKIPS.contains(&r.check.id),
                    "{} skipped: {}",
                    r.check.id,
                    r.observed
                );
                assert!(
                    r.observed.len() > 20,
                    "{} skipped without a reason",
                    r.check.id
                );
            }
            s => panic!("{} {s}: {}", r.check.id, r.observed),
        }
    }
    assert_eq!(report.exit_code(), 0);
    assert!(
        report.duration < Duration::from_secs(30),
        "quick profile took {:?}",
        report.duration
    );
}
