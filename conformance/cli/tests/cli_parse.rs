//! `ssekit parse` as outside tools use it: the real binary, run on every vector, whole and in
//! one-byte chunks, from a file and from standard input; live through a pipe; its reports and
//! exit statuses.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors")
}

fn ssekit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ssekit"))
}

#[test]
fn binary_prints_the_contract_output_for_every_vector() {
    let dir = vectors_dir();
    let mut checked = 0;
    let mut unfinished = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("vectors/") {
        let path = entry.expect("dir entry").path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".sse"))
        else {
            continue;
        };
        let expected =
            std::fs::read(dir.join(format!("expected/{name}.jsonl"))).expect("expected file");
        let mut seen = Vec::new();
        for extra in [&[][..], &["--chunk-size", "1"][..]] {
            let out = ssekit()
                .arg("parse")
                .args(extra)
                .arg(&path)
                .output()
                .expect("ssekit runs");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&expected),
                "{name} {extra:?}"
            );
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            // 0 when the input ends at an event boundary; 1, with the reason on stderr, when
            // it ends inside an event or a line (the vectors stay under the default limits).
            match out.status.code() {
                Some(0) => assert!(err.is_empty(), "{name}: exit 0 with {err}"),
                Some(1) => assert!(err.contains("ssekit parse: input ended inside"), "{err}"),
                other => panic!("{name}: exit {other:?}: {err}"),
            }
            seen.push((out.status.code(), err));
        }
        assert_eq!(seen[0], seen[1], "{name}: chunking changed the report");
        if seen[0].0 == Some(1) {
            unfinished.push(name.to_owned());
        }
        checked += 1;
    }
    assert!(checked >= 80, "only {checked} vectors checked");
    // Vectors whose last block or line has no end, by their README rows, and some that end
    // cleanly although they look as if they might not.
    let unfinished_by_readme = [
        "eof-final-line-no-newline",
        "eof-incomplete-event-discarded",
        "eof-only-field-no-newline",
        "eof-pending-type-and-id",
        "id-pending-at-eof-discarded",
        "retry-no-newline-at-eof",
        "utf8-truncated-at-eof",
        "wpt-format-data-before-final-empty-line",
    ];
    let finished_by_readme = [
        "eof-trailing-lone-cr-dispatches",
        "line-empty-input",
        "bom-alone",
        "stream-100-numbered-events",
    ];
    for (names, exit) in [(&unfinished_by_readme[..], 1), (&finished_by_readme[..], 0)] {
        for name in names {
            let got = if unfinished.iter().any(|n| n == name) {
                1
            } else {
                0
            };
            assert_eq!(got, exit, "{name} exited {got}, not {exit}");
        }
    }
}

#[test]
fn reads_standard_input_when_no_file_or_dash_is_given() {
    for args in [&[][..], &["-"][..]] {
        let out = parse_stdin(args, b"id: 7\ndata: a\ndata: b\n\nretry: 100\n");
        assert!(out.status.success(), "{args:?}");
        assert_eq!(
            String::from_utf8(out.stdout).expect("UTF-8"),
            "{\"event\":\"message\",\"data\":\"a\\nb\",\"id\":\"7\"}\n{\"retry\":100}\n"
        );
    }
}

#[test]
fn an_unreadable_file_fails_with_a_message() {
    let out = ssekit()
        .args(["parse", "/nonexistent/stream.sse"])
        .output()
        .expect("ssekit runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read /nonexistent/stream.sse"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn chunk_size_zero_is_refused() {
    let out = ssekit()
        .args(["parse", "--chunk-size", "0", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("ssekit runs");
    assert!(!out.status.success());
}

/// `ssekit parse ARGS` started with all three standard streams piped.
fn spawn_parse(args: &[&str]) -> std::process::Child {
    ssekit()
        .arg("parse")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssekit runs")
}

/// Spawns `ssekit parse ARGS` with piped standard streams; its stdout lines arrive on the
/// channel as they are printed.
fn spawn_piped(args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = spawn_parse(args);
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// `ssekit parse ARGS` with `input` (small) on standard input.
fn parse_stdin(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = spawn_parse(args);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write stdin");
    drop(stdin);
    child.wait_with_output().expect("ssekit exits")
}

#[test]
fn each_event_reaches_the_pipe_before_the_input_ends() {
    let (mut child, lines) = spawn_piped(&[]);
    let mut stdin = child.stdin.take().expect("stdin");
    for (i, chunk) in ["id: 1\ndata: first\n\n", "data: sec", "ond\n\n"]
        .iter()
        .enumerate()
    {
        stdin.write_all(chunk.as_bytes()).expect("write stdin");
        stdin.flush().expect("flush stdin");
        if i == 1 {
            continue; // half an event: nothing to print yet
        }
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("the event is printed while standard input is still open");
        let data = if i == 0 { "first" } else { "second" };
        assert_eq!(
            line,
            format!("{{\"event\":\"message\",\"data\":\"{data}\",\"id\":\"1\"}}")
        );
    }
    drop(stdin);
    let out = child.wait_with_output().expect("ssekit exits");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
}

#[test]
fn input_ending_inside_an_event_is_reported_and_exits_1() {
    for (input, report) in [
        (
            &b"data: x"[..],
            "ssekit parse: input ended inside a line at byte 0 (7 bytes, no line end: \
             \"data: x\"): discarded, as EventSource does; end every line with \\n\n",
        ),
        (
            b"data: a\n\nid: 2\ndata: b\n",
            "ssekit parse: input ended inside an event (its lines start at byte 9, no blank \
             line closes it by byte 23): discarded, as EventSource does; end every event with \
             a blank line\n",
        ),
    ] {
        let out = parse_stdin(&[], input);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(String::from_utf8_lossy(&out.stderr), report);
    }
}

#[test]
fn limits_are_options_and_their_reports_name_the_option_and_offset() {
    let input = "data: a\n\ndata: 0123456789\n\nevent: big\ndata: 1234567\n\ndata: b\n\n";
    let out = parse_stdin(
        &["--max-line-bytes", "14", "--max-event-bytes", "9"],
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"event\":\"message\",\"data\":\"a\",\"id\":\"\"}\n\
         {\"event\":\"message\",\"data\":\"b\",\"id\":\"\"}\n"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with(
            "ssekit parse: the line starting at byte 9 is longer than --max-line-bytes (14 bytes)"
        ),
        "{err}"
    );
    assert!(
        lines[1].starts_with(
            "ssekit parse: an event grew past --max-event-bytes (9 bytes) in the line starting \
             at byte 38"
        ),
        "{err}"
    );
}

#[test]
fn url_options_with_a_file_are_a_usage_error() {
    let out = ssekit()
        .args(["parse", "--follow", "-H", "A: b", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("ssekit runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--follow, --header only apply to a URL"),
        "{err}"
    );
}
