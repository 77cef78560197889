//! L: the long-poll fallback (same ids and replay as the stream).

use std::time::{Duration, Instant};

use http::{Method, StatusCode};

use super::ids::{after, fresh_ids};
use super::{show, Basis, Check, Finding, Level, Phase};
use crate::context::Ctx;
use crate::probe::{self, Request};
use crate::target::BoxFuture;

/// The L group.
pub fn checks() -> Vec<Check> {
    vec![Check {
        id: "L01",
        level: Level::Should,
        basis: Basis::Practice,
        title: "long-poll fallback gives the stream's ids, no gap or duplicate",
        reference: "ssekit extension (GET /poll?after=ID&timeout=S)",
        browser: "Clients that fall back to polling behind hostile proxies miss or repeat events.",
        fix: "Serve polls from the same log and cursor as the stream.",
        phase: Phase::Main,
        run: l01,
    }]
}

/// One poll: `(ids, next cursor)`.
async fn poll(
    ctx: &Ctx,
    base: &http::Uri,
    after_id: &str,
) -> Result<(Vec<String>, Option<String>), String> {
    let url = probe::with_query(base, "after", after_id)
        .and_then(|u| probe::with_query(&u, "timeout", "1"))
        .map_err(|e| e.to_string())?;
    let mut r = probe::send(
        Request::new(Method::GET, url, &ctx.target.headers),
        ctx.timeout(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let (body, _) = r.body_text(Instant::now() + ctx.timeout(), 8 << 20).await;
    if r.status != StatusCode::OK {
        return Err(format!("poll answered {}", r.status));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("poll body is not JSON: {e}"))?;
    let ids = v["events"]
        .as_array()
        .ok_or("poll body has no `events` array")?
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
    Ok((ids, v["next"].as_str().map(str::to_owned)))
}

fn l01(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let Some(base) = ctx.target.poll_url.clone() else {
            return Finding::skip(
                "no long-poll endpoint advertised (the embedded server has /poll)",
            );
        };
        let ids = match fresh_ids(ctx, "l01", 4).await {
            Ok(ids) => ids,
            Err(f) => return f,
        };
        let k = &ids[0];
        let expected = after(&ids, k).unwrap_or_default();
        let (got, next) = match poll(ctx, &base, k).await {
            Ok(x) => x,
            Err(e) => return Finding::violation(e),
        };
        if let Err(problem) = super::ids::compare_resume(expected, &got) {
            return Finding::violation(format!("poll after {}: {problem}", show(k, 30)));
        }
        if got.len() < expected.len() {
            return Finding::violation(format!(
                "poll after {} returned {} of the stream's {} later events",
                show(k, 30),
                got.len(),
                expected.len()
            ));
        }
        // Following `next` must continue without repeating.
        let Some(next) = next else {
            return Finding::violation("poll answer has no `next` cursor");
        };
        let started = Instant::now();
        match poll(ctx, &base, &next).await {
            Ok((more, _)) if more.iter().any(|id| got.contains(id)) => {
                Finding::violation("following `next` repeated events already polled")
            }
            Ok((more, _)) => Finding::pass(format!(
                "poll after {} matched the stream ({} events); next poll gave {} new in {} ms",
                show(k, 30),
                got.len(),
                more.len(),
                started.elapsed().min(Duration::from_secs(60)).as_millis()
            )),
            Err(e) => Finding::violation(format!("following `next`: {e}")),
        }
    })
}
