//! The runner through nginx (Debian package) in front of `ssekit serve`: proxy buffering off,
//! on (disabled per response by the server's `X-Accel-Buffering: no`), on with that header
//! ignored, and gzip switched on for text/event-stream. Skips with a message when nginx is not
//! installed. What nginx 1.22 does here is recorded in docs/checks.md.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const SSEKIT: &str = env!("CARGO_BIN_EXE_ssekit");

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn serve() -> (Proc, u16) {
    let mut child = Command::new(SSEKIT)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--tick-ms",
            "200",
            "--heartbeat",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssekit serve starts");
    let line = common::first_line(child.stdout.take().expect("stdout"), "ssekit serve");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    (Proc(child), port)
}

fn nginx(bin: &Path, dir: &Path, upstream: u16, buffering: &str) -> (Proc, u16) {
    let port = free_port();
    let d = dir.display();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
           server {{ listen 127.0.0.1:{port};\n\
             location / {{ proxy_pass http://127.0.0.1:{upstream}; proxy_http_version 1.1;\n\
               proxy_set_header Connection \"\"; {buffering} }} }} }}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    let child = Command::new(bin)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (Proc(child), port)
}

/// `ssekit check URL` of the checks nginx can change, with 3 s heartbeats; its report.
fn check(url: &str, publish: &str) -> Value {
    let mut args = vec![url, "--publish", publish, "--heartbeat-max", "3"];
    for id in ["T01", "K01", "K03", "H05", "H07", "T03"] {
        args.extend(["--only", id]);
    }
    let run = common::run_check(SSEKIT, &args, &[]);
    assert!(!run.report.is_null(), "no report: {}", run.stderr);
    run.report
}

#[test]
fn nginx_buffering_and_gzip() {
    let Some(bin) = nginx_binary() else {
        eprintln!("SKIPPED: nginx is not installed (apt-get install -y nginx)");
        return;
    };
    let (_server, upstream) = serve();
    let publish = format!("http://127.0.0.1:{upstream}/publish");
    // (name, nginx directives, check, expected status)
    let cases = [
        ("buffering off", "proxy_buffering off;", "T01", "PASS"),
        (
            "buffering on, X-Accel-Buffering honoured",
            "proxy_buffering on;",
            "T01",
            "PASS",
        ),
        // nginx forwards what it has as soon as the client can take it, even with buffering on.
        (
            "buffering on, X-Accel-Buffering ignored",
            "proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;",
            "T01",
            "PASS",
        ),
        // nginx compresses the stream but flushes its gzip filter after each upstream read.
        (
            "gzip on for text/event-stream",
            "proxy_buffering off; gzip on; gzip_types text/event-stream;",
            "H07",
            "PASS gzip",
        ),
    ];
    for (i, (name, buffering, id, want)) in cases.iter().enumerate() {
        let dir = std::env::temp_dir().join(format!("ssekit-nginx-{}-{i}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (_nginx, port) = nginx(&bin, &dir, upstream, buffering);
        let report = check(&format!("http://127.0.0.1:{port}/stream"), &publish);
        let got = common::status(&report, id);
        eprintln!(
            "nginx {name}: T01 {}; H07 {}; K03 {}; K01 {}; T03 {}",
            common::status(&report, "T01"),
            common::status(&report, "H07"),
            common::status(&report, "K03"),
            common::status(&report, "K01"),
            common::status(&report, "T03")
        );
        assert!(
            got.starts_with(want),
            "nginx {name}: {id} expected {want}, got {got}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
