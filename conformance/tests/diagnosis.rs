//! The runner names what stands between it and the server. Small hand-written servers on
//! 127.0.0.1 reproduce what real deployments do (a compression layer that holds the stream
//! when the request asks for compression, a proxy that holds the whole response, a proxy that
//! cuts idle streams between events), and each test asserts the cause the report names, that
//! the checks which depend on the stream SKIP with it, and that the run stays within budget.

mod common;

use common::result as status;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use std::sync::Arc;

use ssekit_check::check_command::{check_target, CheckArgs};
use ssekit_check::checks::Status;
use ssekit_check::report::Report;
use ssekit_check::target::Target;

/// What the little server does with each connection.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Never answers a request that accepts gzip (as express `compression()` without flush
    /// holds the head with the body); answers the others with heartbeats.
    HoldsCompressed,
    /// Never answers anything (a proxy buffering the whole response).
    HoldsEverything,
    /// Sends one event, then, after `silence` with no byte, drops the connection without the
    /// terminating chunk (a proxy's read timeout).
    CutsWhenIdle { silence: Duration },
    /// Answers with the headers a cache adds to a hit (Varnish's two transaction ids, `Age`).
    Cached,
    /// Holds a request while another one for the same URL is open (request coalescing, a
    /// cache lock keyed on the URL); other URLs are answered.
    OneAtATime,
    /// With `Accept-Encoding: gzip`, sends the head and the gzip header, then holds every
    /// compressed byte (a compressor never flushed after the head was); identity flows.
    CompressesHeld,
    /// Answers `Content-Encoding: br`, its compressor flushed after every heartbeat.
    BrotliFlushed,
    /// With `Accept-Encoding: gzip`, writes every chunk as a gzip member of its own (Django's
    /// `GZipMiddleware` on an async response); identity flows.
    GzipMembers,
    /// Serves each connection on one of this many workers, held until a heartbeat (every 5 s)
    /// finds the client gone: a thread-per-stream server (gunicorn's gthread worker).
    Pool(usize),
}

const GZIP_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
cache-control: no-store\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n";

const CACHED_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
cache-control: no-store\r\nage: 7\r\nvia: 1.1 varnish (Varnish/7.1)\r\nx-varnish: 32770 3\r\n\
transfer-encoding: chunked\r\n\r\n";

const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
cache-control: no-store\r\ntransfer-encoding: chunked\r\n\r\n";

async fn chunk(s: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    s.write_all(format!("{:x}\r\n", body.len()).as_bytes())
        .await?;
    s.write_all(body).await?;
    s.write_all(b"\r\n").await
}

/// One lock per request target: what a cache lock keys on.
type Locks = Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

async fn serve_one(
    mut s: TcpStream,
    behaviour: Behaviour,
    one: Arc<Semaphore>,
    locks: Locks,
) -> std::io::Result<()> {
    let _worker = match behaviour {
        Behaviour::Pool(_) => Some(one.acquire_owned().await.expect("never closed")),
        _ => None,
    };
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await?;
        if n == 0 || request.len() > 64 * 1024 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
    let _lock = match behaviour {
        Behaviour::OneAtATime => {
            let target = text.split_whitespace().nth(1).unwrap_or("").to_owned();
            let lock = Arc::clone(locks.lock().unwrap().entry(target).or_default());
            Some(lock.lock_owned().await)
        }
        _ => None,
    };
    let hold = match behaviour {
        Behaviour::HoldsEverything => true,
        Behaviour::HoldsCompressed => text.contains("accept-encoding: gzip"),
        _ => false,
    };
    if hold {
        // Held until the client gives up; the test's runtime ends the task.
        let _ = s.read(&mut buf).await;
        return Ok(());
    }
    let gzip = text.contains("accept-encoding: gzip");
    match behaviour {
        Behaviour::Cached => s.write_all(CACHED_HEAD).await?,
        Behaviour::BrotliFlushed => return brotli_heartbeats(s).await,
        Behaviour::GzipMembers if gzip => {
            s.write_all(GZIP_HEAD).await?;
            loop {
                chunk(&mut s, &gzip_member(b": hb\n\n")).await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Behaviour::CompressesHeld if gzip => {
            s.write_all(GZIP_HEAD).await?;
            // The 10-byte gzip member header, and nothing after it: the deflate data waits.
            chunk(&mut s, &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]).await?;
            let _ = s.read(&mut buf).await;
            return Ok(());
        }
        _ => s.write_all(HEAD).await?,
    }
    match behaviour {
        Behaviour::CutsWhenIdle { silence } => {
            chunk(&mut s, b"retry: 2000\nid: 1\ndata: hello\n\n").await?;
            tokio::time::sleep(silence).await;
            // Closed without the zero-length chunk: the client sees a broken body.
            Ok(())
        }
        Behaviour::Pool(_) => loop {
            chunk(&mut s, b": hb\n\n").await?;
            tokio::time::sleep(Duration::from_secs(5)).await;
        },
        _ => loop {
            chunk(&mut s, b": hb\n\n").await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        },
    }
}

/// `body` as a complete gzip file.
fn gzip_member(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body).expect("in memory");
    gz.finish().expect("in memory")
}

/// A br stream whose compressor is flushed after each heartbeat, as a well-behaved
/// compression middleware does.
async fn brotli_heartbeats(mut s: TcpStream) -> std::io::Result<()> {
    use std::io::Write;
    s.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-store\r\n\
          content-encoding: br\r\ntransfer-encoding: chunked\r\n\r\n",
    )
    .await?;
    let mut br = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
    loop {
        br.write_all(b": hb\n\n")?;
        br.flush()?;
        let piece = std::mem::take(br.get_mut());
        chunk(&mut s, &piece).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Serves `behaviour` on an ephemeral 127.0.0.1 port; returns the stream URL.
async fn server(behaviour: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let one = Arc::new(Semaphore::new(match behaviour {
        Behaviour::Pool(workers) => workers,
        _ => 1,
    }));
    let locks = Locks::default();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve_one(s, behaviour, Arc::clone(&one), locks.clone()));
        }
    });
    format!("http://127.0.0.1:{port}/stream")
}

async fn check(url: String, only: &[&str], heartbeat_max: u64) -> (Report, Duration) {
    let args = CheckArgs {
        url: Some(url.clone()),
        only: only.iter().map(|s| (*s).to_owned()).collect(),
        timeout: Duration::from_secs(2),
        heartbeat_max: Duration::from_secs(heartbeat_max),
        quiet: true,
        ..CheckArgs::default()
    };
    let target = Target::remote(url.parse().expect("url"), http::HeaderMap::new());
    let started = Instant::now();
    let report = common::run_target(target, &args).await;
    (report, started.elapsed())
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_that_holds_the_stream_fails_h01_and_names_it() {
    let url = server(Behaviour::HoldsCompressed).await;
    let (report, took) = check(url, &["H", "F", "I", "T01", "K03"], 3).await;
    let (h01, observed) = status(&report, "H01");
    assert_eq!(h01, Status::Fail, "{observed}");
    assert!(
        observed.contains("compression layer") && observed.contains("without Accept-Encoding"),
        "{observed}"
    );
    // Everything that needs the stream skips with the cause instead of waiting on its own.
    for id in ["H03", "F01", "I03", "I05", "T01", "K03"] {
        let (s, why) = status(&report, id);
        assert_eq!(s, Status::Skip, "{id}: {why}");
        assert!(why.contains("compression layer"), "{id}: {why}");
    }
    assert_eq!(report.exit_code(), 1);
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_request_reaches_the_same_server() {
    let url = server(Behaviour::HoldsCompressed).await;
    let args = CheckArgs {
        url: Some(url.clone()),
        only: vec!["H01".into(), "H02".into()],
        timeout: Duration::from_secs(2),
        bare_request: true,
        quiet: true,
        ..CheckArgs::default()
    };
    let target = Target::remote(url.parse().expect("url"), http::HeaderMap::new());
    let report = check_target(target, &args).await.expect("runs");
    assert_eq!(status(&report, "H01").0, Status::Pass);
    assert_eq!(status(&report, "H02").0, Status::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_response_is_named_once_within_budget() {
    let url = server(Behaviour::HoldsEverything).await;
    let (report, took) = check(url, &[], 3).await;
    let (h01, observed) = status(&report, "H01");
    assert_eq!(h01, Status::Fail, "{observed}");
    assert!(
        observed.contains("with and without Accept-Encoding"),
        "{observed}"
    );
    let skipped = report
        .results
        .iter()
        .filter(|r| r.observed.starts_with("the stream never opened"))
        .count();
    assert!(
        skipped >= 40,
        "only {skipped} checks skipped with the cause"
    );
    // Two waits of the 2 s timeout (browser request, then the bare control), not one per check.
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_cut_is_named_and_not_blamed_on_framing() {
    let url = server(Behaviour::CutsWhenIdle {
        silence: Duration::from_millis(1500),
    })
    .await;
    let (report, _) = check(url, &["K01", "F03", "R03"], 5).await;
    let (k01, observed) = status(&report, "K01");
    assert_eq!(k01, Status::Warn, "{observed}");
    assert!(
        observed.contains("idle timeout") && observed.contains("proxy_read_timeout"),
        "{observed}"
    );
    for id in ["F03", "R03"] {
        let (s, why) = status(&report, id);
        assert_eq!(s, Status::Pass, "{id}: {why}");
        assert!(why.contains("idle timeout"), "{id}: {why}");
    }
    assert_eq!(report.exit_code(), 0, "an idle cut breaks no MUST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_in_the_path_is_named_by_h04() {
    let url = server(Behaviour::Cached).await;
    let (report, _) = check(url, &["H04"], 3).await;
    let (h04, observed) = status(&report, "H04");
    assert_eq!(h04, Status::Warn, "{observed}");
    assert!(
        observed.contains("a cache handles the stream") && observed.contains("x-varnish: 32770 3"),
        "{observed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_second_subscriber_is_named_by_h04() {
    let url = server(Behaviour::OneAtATime).await;
    let (report, _) = check(url, &["H04"], 3).await;
    let (h04, observed) = status(&report, "H04");
    assert_eq!(h04, Status::Warn, "{observed}");
    assert!(
        observed.contains("a second subscriber got no headers while the first was open"),
        "{observed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_stream_that_never_flushes_fails_h14() {
    let url = server(Behaviour::CompressesHeld).await;
    let (report, took) = check(url, &["H01", "H14", "T01", "K03", "F01"], 3).await;
    assert_eq!(status(&report, "H01").0, Status::Pass, "the head came");
    let (h14, observed) = status(&report, "H14");
    assert_eq!(h14, Status::Fail, "{observed}");
    assert!(
        observed.contains("Content-Encoding: gzip") && observed.contains("decoded to nothing"),
        "{observed}"
    );
    for id in ["T01", "K03", "F01"] {
        let (s, why) = status(&report, id);
        assert_eq!(s, Status::Skip, "{id}: {why}");
        assert!(why.contains("a compressor holds the stream"), "{id}: {why}");
    }
    assert_eq!(report.exit_code(), 1);
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_brotli_stream_passes_h07_and_h14() {
    let url = server(Behaviour::BrotliFlushed).await;
    let (report, _) = check(url, &["H07", "H14", "F01"], 3).await;
    let (h07, observed) = status(&report, "H07");
    assert_eq!(h07, Status::Pass, "{observed}");
    assert!(observed.starts_with("br, flushed"), "{observed}");
    assert_eq!(status(&report, "H14").0, Status::Pass);
    assert_eq!(
        status(&report, "F01").0,
        Status::Pass,
        "the decoded body is judged"
    );
}

/// A server with six workers, each held by a stream until its next heartbeat finds the client
/// gone: the reconnect storm gets no heads, and R05 names the worker pool, not a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_out_of_workers_is_named_by_r05() {
    let url = server(Behaviour::Pool(6)).await;
    let (report, took) = check(url, &["H01", "H04", "R05"], 3).await;
    assert_eq!(
        status(&report, "H01").0,
        Status::Pass,
        "the first request is answered"
    );
    assert_eq!(
        status(&report, "H04").0,
        Status::Pass,
        "no cache is in the path"
    );
    let (r05, observed) = status(&report, "R05");
    assert_eq!(r05, Status::Warn, "{observed}");
    assert!(
        observed.contains("got no response head")
            && observed.contains("no worker free")
            && observed.contains("fixed pool"),
        "{observed}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

/// One gzip member per chunk: browsers read the first and drop the rest, so H14 fails naming
/// the members, and the checks that need the stream SKIP with that cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_member_per_chunk_fails_h14() {
    let url = server(Behaviour::GzipMembers).await;
    let (report, took) = check(url, &["H01", "H14", "T01", "F01"], 3).await;
    assert_eq!(status(&report, "H01").0, Status::Pass, "the head came");
    let (h14, observed) = status(&report, "H14");
    assert_eq!(h14, Status::Fail, "{observed}");
    assert!(
        observed.contains("after its first gzip member") && observed.contains("1 comment(s)"),
        "{observed}"
    );
    for id in ["T01", "F01"] {
        let (s, why) = status(&report, id);
        assert_eq!(s, Status::Skip, "{id}: {why}");
        assert!(why.contains("a browser cannot read it"), "{id}: {why}");
    }
    assert_eq!(report.exit_code(), 1);
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

/// One worker for the whole server (gunicorn's default sync worker): the second subscriber is
/// held, and so is a request for another URL, so no cache is blamed (H04) and S04 names a
/// server that answers one stream at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_one_worker_is_not_called_a_cache() {
    let url = server(Behaviour::Pool(1)).await;
    let (report, _) = check(url, &["H01", "H04", "S04"], 3).await;
    assert_eq!(status(&report, "H01").0, Status::Pass);
    let (h04, observed) = status(&report, "H04");
    assert_eq!(h04, Status::Pass, "{observed}");
    let (s04, observed) = status(&report, "S04");
    assert_eq!(s04, Status::Warn, "{observed}");
    assert!(observed.contains("one stream at a time"), "{observed}");
}
