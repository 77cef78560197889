//! C: CORS and auth (cross-origin headers, credentials, unauthenticated answers).

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, StatusCode};

use super::http::value;
use super::{show, Basis, Check, Finding, Level, Phase};
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
            basis: Basis::Practice,
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
            basis: Basis::Spec,
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
            basis: Basis::Practice,
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
            basis: Basis::Practice,
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

/// Why the Fetch CORS check (Fetch §4.9) fails a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsRefusal {
    /// No `Access-Control-Allow-Origin` at all.
    NoAllowOrigin,
    /// ACAO (all its values, as Fetch combines them) is neither `*` nor the origin.
    OriginMismatch(String),
    /// ACAO `*` on a credentialed request.
    WildcardWithCredentials,
    /// A credentialed request whose ACAC is not exactly `true` (its value, if any).
    NoAllowCredentials(Option<String>),
}

impl CorsRefusal {
    /// One line naming the refusal for a request from `origin`.
    pub fn describe(&self, origin: &str) -> String {
        match self {
            CorsRefusal::NoAllowOrigin => format!("no Access-Control-Allow-Origin for {origin}"),
            CorsRefusal::OriginMismatch(v) => format!(
                "Access-Control-Allow-Origin `{}` is neither `*` nor {origin}",
                show(v, 60)
            ),
            CorsRefusal::WildcardWithCredentials => {
                "Access-Control-Allow-Origin `*` does not admit a credentialed request".into()
            }
            CorsRefusal::NoAllowCredentials(v) => format!(
                "Access-Control-Allow-Credentials {} for a credentialed request (it must be exactly `true`)",
                v.as_deref()
                    .map_or("absent".into(), |v| format!("`{}`", show(v, 20)))
            ),
        }
    }
}

/// A header's value as Fetch "gets" it: every field line joined with `, `, so a duplicated
/// ACAO never equals an origin.
fn fetch_get(h: &HeaderMap, name: &str) -> Option<String> {
    let all: Vec<_> = h
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!all.is_empty()).then(|| all.join(", "))
}

/// The Fetch CORS check (Fetch §4.9) of a response to a request from `origin`; `credentials`
/// when the request's credentials mode is "include" (`withCredentials`). Byte comparisons, as
/// browsers do: `True` is not `true`, `HTTPS://X` is not `https://x`.
pub fn cors_check(h: &HeaderMap, origin: &str, credentials: bool) -> Result<(), CorsRefusal> {
    let acao = fetch_get(h, "access-control-allow-origin").ok_or(CorsRefusal::NoAllowOrigin)?;
    if acao == "*" {
        return match credentials {
            false => Ok(()),
            true => Err(CorsRefusal::WildcardWithCredentials),
        };
    }
    if acao != origin {
        return Err(CorsRefusal::OriginMismatch(acao));
    }
    if !credentials {
        return Ok(());
    }
    match fetch_get(h, "access-control-allow-credentials") {
        Some(v) if v == "true" => Ok(()),
        other => Err(CorsRefusal::NoAllowCredentials(other)),
    }
}

/// Judges the CORS headers of one response to a request from `origin`; `credentialed` when the
/// request carried a cookie. A response without ACAO is same-origin only, which is no problem.
pub fn cors_problems(h: &HeaderMap, origin: &str, credentialed: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(CorsRefusal::OriginMismatch(acao)) = cors_check(h, origin, false) {
        problems.push(format!(
            "ACAO `{}` matches neither `*` nor the request's Origin",
            show(&acao, 40)
        ));
    }
    let acao = value(h, "access-control-allow-origin");
    let acac = value(h, "access-control-allow-credentials")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if credentialed && acac && acao == Some(origin) {
        let vary = h.get_all("vary").iter().any(|v| {
            v.to_str()
                .unwrap_or("")
                .to_ascii_lowercase()
                .contains("origin")
        });
        if !vary {
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
        let mut problems = cors_problems(&plain, ORIGIN, false);
        problems.extend(cors_problems(&cred, ORIGIN, true));
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
        assert!(cors_problems(&h, ORIGIN, true).is_empty());
        h.insert(
            "access-control-allow-origin",
            HeaderValue::from_static("https://other.example"),
        );
        assert_eq!(cors_problems(&h, ORIGIN, false).len(), 1);
        h.insert(
            "access-control-allow-origin",
            HeaderValue::from_static(ORIGIN),
        );
        h.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
        assert_eq!(cors_problems(&h, ORIGIN, true).len(), 1, "missing Vary");
        h.insert("vary", HeaderValue::from_static("Origin"));
        assert!(cors_problems(&h, ORIGIN, true).is_empty());
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn fetch_cors_check() {
        let page = "http://127.0.0.1:8080";
        let check =
            |pairs: &[(&'static str, &'static str)], cred| cors_check(&headers(pairs), page, cred);
        assert_eq!(check(&[], false), Err(CorsRefusal::NoAllowOrigin));
        let star = [("access-control-allow-origin", "*")];
        assert_eq!(check(&star, false), Ok(()));
        assert_eq!(
            check(&star, true),
            Err(CorsRefusal::WildcardWithCredentials)
        );
        let star_acac = [
            ("access-control-allow-origin", "*"),
            ("access-control-allow-credentials", "true"),
        ];
        assert_eq!(
            check(&star_acac, true),
            Err(CorsRefusal::WildcardWithCredentials)
        );
        let exact = [("access-control-allow-origin", "http://127.0.0.1:8080")];
        assert_eq!(check(&exact, false), Ok(()));
        assert_eq!(
            check(&exact, true),
            Err(CorsRefusal::NoAllowCredentials(None))
        );
        let exact_acac = [
            ("access-control-allow-origin", "http://127.0.0.1:8080"),
            ("access-control-allow-credentials", "true"),
        ];
        assert_eq!(check(&exact_acac, true), Ok(()));
        // Byte comparisons: a capitalised `True`, a trailing slash, another port all fail.
        let capital = [
            ("access-control-allow-origin", "http://127.0.0.1:8080"),
            ("access-control-allow-credentials", "True"),
        ];
        assert_eq!(
            check(&capital, true),
            Err(CorsRefusal::NoAllowCredentials(Some("True".into())))
        );
        for other in ["http://127.0.0.1:8080/", "http://127.0.0.1:8081", "null"] {
            let h = headers(&[("access-control-allow-origin", other)]);
            assert_eq!(
                cors_check(&h, page, false),
                Err(CorsRefusal::OriginMismatch(other.into()))
            );
        }
        // Two ACAO field lines are one combined value, which matches nothing.
        let twice = [
            ("access-control-allow-origin", "http://127.0.0.1:8080"),
            ("access-control-allow-origin", "http://127.0.0.1:8080"),
        ];
        assert_eq!(
            check(&twice, false),
            Err(CorsRefusal::OriginMismatch(
                "http://127.0.0.1:8080, http://127.0.0.1:8080".into()
            ))
        );
        assert!(CorsRefusal::NoAllowOrigin
            .describe(page)
            .contains("for http://127.0.0.1:8080"));
    }
}
