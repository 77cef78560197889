//! C: CORS and auth (cross-origin headers, credentials, unauthenticated answers).

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, StatusCode};

use super::http::value;
use super::{show, Check, Finding, Level, Phase};
use crate::capture::Capture;
use crate::context::Ctx;
use crate::probe::Request;
use crate::target::BoxFuture;

/// The origin the runner claims to come from.
pub const ORIGIN: &str = "https://runner.example";

/// The C group.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "C01",
            level: Level::Should,
            title: "CORS headers match Fetch rules (with and without credentials)",
            reference: "WPT eventsource-cross-origin; Fetch §3.2.5",
            browser: "Cross-origin EventSource fails (plain `error`, CLOSED) when ACAO/ACAC do not match the request.",
            fix: "Echo the exact allowed Origin with `Access-Control-Allow-Credentials: true` and `Vary: Origin` for credentialed use; `*` only without credentials.",
            phase: Phase::Main,
            run: c01,
        },
        Check {
            id: "C02",
            level: Level::Must,
            title: "never ACAO * together with ACAC true",
            reference: "Fetch §3.2.5 (CORS check)",
            browser: "Browsers reject the response: `withCredentials` streams never open.",
            fix: "With credentials, echo the exact origin instead of `*`.",
            phase: Phase::Main,
            run: c02,
        },
        Check {
            id: "C03",
            level: Level::Should,
            title: "unauthenticated requests get 401/403, not 200 + error",
            reference: "HTML §9.2.2 (non-200 fails the connection)",
            browser: "200 followed by an error event and EOF makes EventSource reconnect forever with bad credentials.",
            fix: "Reject missing or expired credentials with 401/403 before starting the stream.",
            phase: Phase::Main,
            run: c03,
        },
        Check {
            id: "C04",
            level: Level::Should,
            title: "replayed events re-authorized",
            reference: "Mercure spec (authorization of replayed updates)",
            browser: "A client whose rights were revoked receives private events again through replay.",
            fix: "Check authorization for each replayed event at replay time.",
            phase: Phase::Main,
            run: c04,
        },
    ]
}

async fn cors_request(ctx: &Ctx, with_cookie: bool) -> Result<HeaderMap, String> {
    let mut req = ctx.sse_request();
    req.headers
        .insert("origin", HeaderValue::from_static(ORIGIN));
    if with_cookie && !req.headers.contains_key("cookie") {
        req.headers
            .insert("cookie", HeaderValue::from_static("ssekit_check=1"));
    }
    let r = ctx
        .send("C01 cross-origin", req)
        .await
        .map_err(|e| e.to_string())?;
    Ok(r.headers.clone())
}

/// Judges the CORS headers of one response; `credentialed` when the request carried a cookie.
pub fn cors_problems(h: &HeaderMap, credentialed: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(acao) = value(h, "access-control-allow-origin") else {
        return problems;
    };
    let acac = value(h, "access-control-allow-credentials")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if acao != "*" && acao != ORIGIN {
        problems.push(format!(
            "ACAO `{}` matches neither `*` nor the request's Origin",
            show(acao, 40)
        ));
    }
    if credentialed && acac {
        let vary = h.get_all("vary").iter().any(|v| {
            v.to_str()
                .unwrap_or("")
                .to_ascii_lowercase()
                .contains("origin")
        });
        if acao == ORIGIN && !vary {
            problems.push(
                "origin echoed with credentials but no `Vary: Origin` (caches may mix origins)"
                    .into(),
            );
        }
    }
    problems
}

fn c01(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let (plain, cred) = match (
            cors_request(ctx, false).await,
            cors_request(ctx, true).await,
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return Finding::skip(e),
        };
        if value(&plain, "access-control-allow-origin").is_none()
            && value(&cred, "access-control-allow-origin").is_none()
        {
            return Finding::pass(format!("no CORS headers for Origin {ORIGIN}: same-origin only (cross-origin EventSource fails)"));
        }
        let mut problems = cors_problems(&plain, false);
        problems.extend(cors_problems(&cred, true));
        if problems.is_empty() {
            let show_h = |h: &HeaderMap| {
                format!(
                    "ACAO {}, ACAC {}",
                    value(h, "access-control-allow-origin").unwrap_or("-"),
                    value(h, "access-control-allow-credentials").unwrap_or("-")
                )
            };
            Finding::pass(format!(
                "without cookie: {}; with cookie: {}",
                show_h(&plain),
                show_h(&cred)
            ))
        } else {
            Finding::violation(problems.join("; "))
        }
    })
}

fn c02(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        for cookie in [false, true] {
            let h = match cors_request(ctx, cookie).await {
                Ok(h) => h,
                Err(e) => return Finding::skip(e),
            };
            let acao = value(&h, "access-control-allow-origin");
            let acac = value(&h, "access-control-allow-credentials");
            if acao == Some("*") && acac.is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                return Finding::violation(
                    "Access-Control-Allow-Origin: * with Access-Control-Allow-Credentials: true",
                );
            }
        }
        Finding::pass("no wildcard origin combined with credentials")
    })
}

fn c03(ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async move {
        let auth: Vec<&str> = ["authorization", "cookie"]
            .into_iter()
            .filter(|h| ctx.target.headers.contains_key(*h))
            .collect();
        if auth.is_empty() {
            return Finding::skip("no credentials given (--header Authorization:… or Cookie:…), so nothing to withhold");
        }
        let mut headers = ctx.target.headers.clone();
        for h in &auth {
            headers.remove(*h);
        }
        let mut r = match ctx
            .send(
                "C03 unauthenticated",
                Request::sse(ctx.stream_url(), &headers),
            )
            .await
        {
            Ok(r) => r,
            Err(e) => return Finding::violation(format!("unauthenticated request failed: {e}")),
        };
        match r.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Finding::pass(format!("{} without {}", r.status, auth.join(", ")))
            }
            StatusCode::OK => {
                let mut c = Capture::new(&r);
                c.read_until(&mut r, Instant::now() + Duration::from_secs(1), |_| false)
                    .await;
                if c.ended_by_server() {
                    Finding::violation(format!("200 then EOF after {} event(s) without credentials: EventSource reconnects forever", c.events.len()))
                } else {
                    Finding::warn(format!(
                        "the stream opens without {}: is it meant to be public?",
                        auth.join(", ")
                    ))
                }
            }
            s => Finding::pass(format!("{s} without {}", auth.join(", "))),
        }
    })
}

fn c04(_ctx: &Ctx) -> BoxFuture<'_, Finding> {
    Box::pin(async {
        Finding::skip("needs a hook that changes a subscriber's authorization (Mercure-style); none is available")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_rules() {
        let mut h = HeaderMap::new();
        assert!(cors_problems(&h, true).is_empty());
        h.insert(
            "access-control-allow-origin",
            HeaderValue::from_static("https://other.example"),
        );
        assert_eq!(cors_problems(&h, false).len(), 1);
        h.insert(
            "access-control-allow-origin",
            HeaderValue::from_static(ORIGIN),
        );
        h.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
        assert_eq!(cors_problems(&h, true).len(), 1, "missing Vary");
        h.insert("vary", HeaderValue::from_static("Origin"));
        assert!(cors_problems(&h, true).is_empty());
    }
}
