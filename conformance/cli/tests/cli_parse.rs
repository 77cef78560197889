//! `ssekit parse` as outside tools use it: the real binary, run on every vector, whole and in
//! one-byte chunks, from a file and from standard input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
        for extra in [&[][..], &["--chunk-size", "1"][..]] {
            let out = ssekit()
                .arg("parse")
                .args(extra)
                .arg(&path)
                .output()
                .expect("ssekit runs");
            assert!(out.status.success(), "{name}: exit {:?}", out.status);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&expected),
                "{name} {extra:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 80, "only {checked} vectors checked");
}

#[test]
fn reads_standard_input_when_no_file_or_dash_is_given() {
    for args in [&["parse"][..], &["parse", "-"][..]] {
        let mut child = ssekit()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("ssekit runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"id: 7\ndata: a\ndata: b\n\nretry: 100\n")
            .expect("write stdin");
        let out = child.wait_with_output().expect("ssekit exits");
        assert!(out.status.success());
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
