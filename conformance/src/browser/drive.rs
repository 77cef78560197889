//! Drives one browser session (feature `browser`): launches Chromium, serves the probe page
//! through the recording proxy, publishes, ends the stream, waits for the reconnect, then the
//! cross-origin EventSource. What it records is a [`super::session::Observation`]. Every wait is
//! bounded.

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};
use serde_json::json;

use super::cdp::Tab;
use super::chromium::Chromium;
use super::proxy::{End, Exchange, Proxy, Route, Upstream, GONE_PATH, STREAM_PATH};
use super::session::*;
use super::verdicts::{predict, Prediction};
use super::{BrowserError, BrowserOptions};
use crate::checks::http::value;
use crate::probe;
use crate::target::{Publisher, Target};

/// Runs a session against `target`, the page on `page` if given (else on `127.0.0.1:0`).
pub async fn observe(
    target: &Target,
    types: &[String],
    opts: &BrowserOptions,
    page: Option<std::net::TcpListener>,
) -> Result<Observation, BrowserError> {
    let upstream = Upstream {
        stream: target.url.clone(),
        gone: target.gone_url.clone(),
        headers: target.headers.clone(),
        timeout: opts.timeout,
    };
    let proxy = match page {
        Some(listener) => Proxy::start_on(listener, upstream)?,
        None => Proxy::start(upstream).await?,
    };
    let chromium =
        Chromium::launch(&opts.chromium, opts.timeout.max(Duration::from_secs(10))).await?;
    let mut obs = Observation {
        chromium: chromium.version.clone(),
        page_url: proxy.page_url(),
        with_credentials: opts.with_credentials,
        listened_types: types.to_vec(),
        page: Vec::new(),
        requests: Vec::new(),
        published: Vec::new(),
        publisher: target.publish.is_some(),
        notes: Vec::new(),
        cross_origin: None,
    };
    let driven = drive(&chromium, &proxy, target, opts, &mut obs).await;
    chromium.close().await;
    obs.requests = proxy.exchanges();
    driven.map(|()| obs)
}

/// Polls the page's log until `done` holds or `within` passes; returns the last log read.
async fn wait_page(
    tab: &Tab<'_>,
    within: Duration,
    mut done: impl FnMut(&[PageEntry]) -> bool,
) -> Result<Vec<PageEntry>, BrowserError> {
    let deadline = Instant::now() + within;
    loop {
        let log = read_log(tab).await?;
        if done(&log) || Instant::now() >= deadline {
            return Ok(log);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn read_log(tab: &Tab<'_>) -> Result<Vec<PageEntry>, BrowserError> {
    let v = tab.eval("window.ssekit.log").await?;
    serde_json::from_value(v).map_err(|e| BrowserError::Cdp(format!("unexpected page log: {e}")))
}

/// Waits (bounded) until the proxy's log satisfies `done`.
async fn wait_proxy(
    proxy: &Proxy,
    within: Duration,
    mut done: impl FnMut(&[Exchange]) -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if done(&proxy.exchanges()) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn main_events(log: &[PageEntry]) -> Vec<&PageEntry> {
    log.iter()
        .filter(|e| e.src == "main" && e.kind == "event")
        .collect()
}

fn count(log: &[PageEntry], src: &str, kind: &str) -> usize {
    log.iter()
        .filter(|e| e.src == src && e.kind == kind)
        .count()
}

async fn publish(
    publisher: &Publisher,
    obs: &mut Observation,
    nonce: &str,
) -> Result<(), BrowserError> {
    let data = format!("ssekit-browser-{nonce}-{}", obs.published.len() + 1);
    publisher
        .publish(None, &data)
        .await
        .map_err(BrowserError::Publish)?;
    obs.published.push(data);
    Ok(())
}

/// Waits until the page shows every published event.
async fn wait_published(
    tab: &Tab<'_>,
    obs: &Observation,
    within: Duration,
) -> Result<(), BrowserError> {
    let want = obs.published.clone();
    wait_page(tab, within, |log| {
        want.iter().all(|d| {
            main_events(log)
                .iter()
                .any(|e| e.data.as_deref() == Some(d.as_str()))
        })
    })
    .await
    .map(|_| ())
}

async fn drive(
    chromium: &Chromium,
    proxy: &Proxy,
    target: &Target,
    opts: &BrowserOptions,
    obs: &mut Observation,
) -> Result<(), BrowserError> {
    let tab = Tab::open(&chromium.cdp, &proxy.page_url(), opts.timeout).await?;
    main_session(&tab, proxy, target, opts, obs).await?;
    obs.cross_origin = Some(cross_origin(&tab, proxy, target, opts).await?);
    Ok(())
}

/// The runner's GET with the page's `Origin` and the headers the page's EventSource sends (no
/// cookie: the browser's profile is fresh), then the page's own cross-origin EventSource.
async fn cross_origin(
    tab: &Tab<'_>,
    proxy: &Proxy,
    target: &Target,
    opts: &BrowserOptions,
) -> Result<CrossOrigin, BrowserError> {
    let origin = proxy.origin();
    let mut request = probe::Request::sse(target.url.clone(), &HeaderMap::new());
    if let Ok(v) = HeaderValue::from_str(&origin) {
        request.headers.insert(http::header::ORIGIN, v);
    }
    let (runner, prediction) = match probe::send(request, opts.timeout).await {
        Ok(r) => {
            let text = |name: &str| value(&r.headers, name).map(str::to_owned);
            let answer = CorsAnswer {
                status: Some(r.status.as_u16()),
                content_type: text("content-type"),
                allow_origin: text("access-control-allow-origin"),
                allow_credentials: text("access-control-allow-credentials"),
                error: None,
            };
            let prediction = predict(r.status, &r.headers, &origin, opts.with_credentials);
            (answer, prediction)
        }
        Err(e) => (
            CorsAnswer {
                error: Some(e.to_string()),
                ..CorsAnswer::default()
            },
            Prediction::Unknown {
                why: format!("the runner's own request failed: {e}"),
            },
        ),
    };

    let url = target.url.to_string();
    let quoted = serde_json::to_string(&url).unwrap_or_default();
    let wc = opts.with_credentials;
    tab.eval(&format!("ssekitStart('cross', {quoted}, {wc}, [])"))
        .await?;
    let started = Instant::now();
    let log = wait_page(tab, opts.timeout, |log| {
        count(log, "cross", "open") + count(log, "cross", "error") > 0
    })
    .await?;
    let waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tab.eval("ssekitClose('cross')").await?;
    Ok(CrossOrigin {
        origin,
        url,
        page: log.into_iter().filter(|e| e.src == "cross").collect(),
        waited_ms,
        runner,
        prediction,
        headers_left_out: !target.headers.is_empty(),
    })
}

/// The scripted same-origin session through the proxy.
async fn main_session(
    tab: &Tab<'_>,
    proxy: &Proxy,
    target: &Target,
    opts: &BrowserOptions,
    obs: &mut Observation,
) -> Result<(), BrowserError> {
    let t = opts.timeout;
    let types = json!(obs.listened_types).to_string();
    let wc = opts.with_credentials;
    tab.eval(&format!(
        "ssekitStart('main', '{STREAM_PATH}', {wc}, {types})"
    ))
    .await?;
    if target.gone_url.is_some() {
        tab.eval(&format!("ssekitStart('gone', '{GONE_PATH}', {wc}, [])"))
            .await?;
    }
    let nonce = format!(
        "{:x}",
        std::process::id() ^ u32::try_from(proxy.now_ms() & 0xffff_ffff).unwrap_or(0)
    );

    // 1. The stream opens, or fails. Chromium sniffs `text/plain` bodies (up to ~1 KiB) before
    // it fails a wrong-type stream, so that error can take a while on a slow stream.
    let log = wait_page(tab, t + Duration::from_secs(10), |log| {
        count(log, "main", "open") + count(log, "main", "error") > 0
    })
    .await?;
    if count(&log, "main", "open") == 0 {
        obs.notes
            .push("the EventSource never opened: nothing more to observe".into());
        return finish(tab, proxy, obs).await;
    }

    // 2. Events arrive: the runner's own, or live traffic.
    match &target.publish {
        Some(p) => {
            for _ in 0..3 {
                publish(p, obs, &nonce).await?;
            }
            wait_published(tab, obs, t).await?;
        }
        None => {
            wait_page(tab, t, |log| main_events(log).len() >= 2).await?;
        }
    }

    // 3. A server-side close at an event boundary, then the reconnect.
    let at_cut = read_log(tab).await?;
    let (errors_before, opens_before) = (
        count(&at_cut, "main", "error"),
        count(&at_cut, "main", "open"),
    );
    proxy.cut();
    let cut = wait_proxy(proxy, t, |x| x.iter().any(|e| e.end == Some(End::Cut))).await;
    if !cut {
        obs.notes.push(format!(
            "the stream reached no event boundary within {t:?}: no server-side close was simulated"
        ));
        return finish(tab, proxy, obs).await;
    }
    if let Some(p) = &target.publish {
        // Published while the browser is away: a resume must deliver them.
        for _ in 0..2 {
            publish(p, obs, &nonce).await?;
        }
    }
    let first = proxy
        .exchanges()
        .into_iter()
        .find(|x| x.route == Route::Stream);
    let retry = first
        .as_ref()
        .and_then(|x| x.retry)
        .unwrap_or(DEFAULT_RETRY_MS);
    if retry > MAX_RETRY_WAIT_MS {
        obs.notes.push(format!(
            "retry is {retry} ms; the session waits at most {MAX_RETRY_WAIT_MS} ms for the reconnect"
        ));
    }
    let wait = Duration::from_millis(retry.min(MAX_RETRY_WAIT_MS)) + t;
    let streams = |x: &[Exchange]| x.iter().filter(|e| e.route == Route::Stream).count();
    if !wait_proxy(proxy, wait, |x| streams(x) >= 2).await {
        return finish(tab, proxy, obs).await;
    }
    let log = wait_page(tab, t, |log| {
        count(log, "main", "open") > opens_before || count(log, "main", "error") > errors_before + 1
    })
    .await?;

    // 4. After a successful reconnect, live delivery goes on.
    if count(&log, "main", "open") > opens_before {
        if let Some(p) = &target.publish {
            publish(p, obs, &nonce).await?;
            wait_published(tab, obs, t).await?;
        }
    }
    finish(tab, proxy, obs).await
}

/// Stops forwarding, lets the page catch up with what was forwarded, and reads it.
async fn finish(tab: &Tab<'_>, proxy: &Proxy, obs: &mut Observation) -> Result<(), BrowserError> {
    // A "gone" URL that left the browser CONNECTING: wait for the reconnect that proves it.
    let gone_retrying = read_log(tab)
        .await?
        .iter()
        .any(|e| e.src == "gone" && e.kind == "error" && e.ready_state == Some(0));
    if gone_retrying {
        let gone = |x: &[Exchange]| x.iter().filter(|e| e.route == Route::Gone).count();
        let within = Duration::from_millis(DEFAULT_RETRY_MS) + Duration::from_secs(2);
        wait_proxy(proxy, within, |x| gone(x) >= 2).await;
    }
    proxy.freeze();
    let listened = |t: &str| t == "message" || obs.listened_types.iter().any(|l| l == t);
    let wanted = proxy
        .exchanges()
        .iter()
        .filter(|x| x.route == Route::Stream)
        .flat_map(|x| x.events.iter())
        .filter(|e| listened(&e.event_type))
        .count();
    let log = wait_page(tab, Duration::from_secs(1), |log| {
        main_events(log).len() >= wanted
    })
    .await?;
    obs.page = log;
    tab.eval("ssekitStop()").await?;
    Ok(())
}
