//! A minimal Chrome DevTools Protocol client: JSON commands over the browser's WebSocket, with
//! flat sessions for tabs. Only what the browser checks need: open a tab, navigate, evaluate
//! (awaiting promises), set the viewport, take a screenshot, close the browser.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::BrowserError;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// A connection to the browser's DevTools endpoint.
pub struct Cdp {
    outgoing: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_id: AtomicU64,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Cdp {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Cdp {
    /// Connects to `ws://127.0.0.1:PORT/devtools/browser/…`.
    pub async fn connect(ws_url: &str, timeout: Duration) -> Result<Self, BrowserError> {
        let (socket, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(ws_url))
            .await
            .map_err(|_| {
                BrowserError::Cdp(format!("no DevTools answer at {ws_url} in {timeout:?}"))
            })?
            .map_err(|e| BrowserError::Cdp(format!("cannot connect to {ws_url}: {e}")))?;
        let (mut sink, mut stream) = socket.split();
        let (outgoing, mut rx) = mpsc::unbounded_channel::<Message>();
        let writer = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        let pending: Pending = Arc::default();
        let for_reader = Arc::clone(&pending);
        let reader = tokio::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                let Message::Text(text) = m else { continue };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                // Events (no id) are not needed: state is read by polling the page.
                let Some(id) = v.get("id").and_then(Value::as_u64) else {
                    continue;
                };
                let waiter = for_reader
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                if let Some(w) = waiter {
                    let answer = match v.get("error") {
                        Some(e) => Err(e.to_string()),
                        None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
                    };
                    let _ = w.send(answer);
                }
            }
            // The browser went away: fail every outstanding command.
            for_reader.lock().unwrap_or_else(|p| p.into_inner()).clear();
        });
        Ok(Cdp {
            outgoing,
            pending,
            next_id: AtomicU64::new(1),
            tasks: [writer, reader],
        })
    }

    /// Sends one command (to a tab's session, or to the browser) and waits for its result.
    pub async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, BrowserError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        self.outgoing
            .send(Message::Text(msg.to_string().into()))
            .map_err(|_| BrowserError::Cdp("the DevTools connection is closed".into()))?;
        let answer = tokio::time::timeout(timeout, rx).await;
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        match answer {
            Err(_) => Err(BrowserError::Cdp(format!(
                "{method}: no answer in {timeout:?}"
            ))),
            Ok(Err(_)) => Err(BrowserError::Cdp(format!(
                "{method}: the browser closed the DevTools connection"
            ))),
            Ok(Ok(Err(e))) => Err(BrowserError::Cdp(format!("{method}: {e}"))),
            Ok(Ok(Ok(v))) => Ok(v),
        }
    }
}

/// One tab, attached with a flat session.
pub struct Tab<'a> {
    cdp: &'a Cdp,
    session: String,
    timeout: Duration,
}

impl<'a> Tab<'a> {
    /// Opens a new tab on `url` and waits until its document has loaded.
    pub async fn open(cdp: &'a Cdp, url: &str, timeout: Duration) -> Result<Tab<'a>, BrowserError> {
        let created = cdp
            .call(
                None,
                "Target.createTarget",
                json!({ "url": "about:blank" }),
                timeout,
            )
            .await?;
        let target = created["targetId"]
            .as_str()
            .ok_or_else(|| BrowserError::Cdp("Target.createTarget gave no targetId".into()))?;
        let attached = cdp
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
                timeout,
            )
            .await?;
        let session = attached["sessionId"]
            .as_str()
            .ok_or_else(|| BrowserError::Cdp("Target.attachToTarget gave no sessionId".into()))?
            .to_owned();
        let tab = Tab {
            cdp,
            session,
            timeout,
        };
        tab.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 960, "height": 640, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await?;
        let nav = tab.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(e) = nav.get("errorText").and_then(Value::as_str) {
            return Err(BrowserError::Cdp(format!("cannot load {url}: {e}")));
        }
        tab.eval(
            "new Promise(r => document.readyState === 'complete' ? r(true) \
             : addEventListener('load', () => r(true)))",
        )
        .await?;
        Ok(tab)
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.cdp
            .call(Some(&self.session), method, params, self.timeout)
            .await
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its JSON value.
    pub async fn eval(&self, expression: &str) -> Result<Value, BrowserError> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await?;
        if let Some(e) = r.get("exceptionDetails") {
            let text = e["exception"]["description"]
                .as_str()
                .or_else(|| e["text"].as_str())
                .unwrap_or("exception");
            return Err(BrowserError::Cdp(format!("page script failed: {text}")));
        }
        Ok(r["result"]["value"].clone())
    }

    /// A PNG of the visible page.
    pub async fn screenshot(&self) -> Result<Vec<u8>, BrowserError> {
        use base64::Engine;
        let r = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await?;
        let data = r["data"]
            .as_str()
            .ok_or_else(|| BrowserError::Cdp("Page.captureScreenshot gave no data".into()))?;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| BrowserError::Cdp(format!("screenshot is not base64: {e}")))
    }
}
