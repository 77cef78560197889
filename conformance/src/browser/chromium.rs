//! Launching headless Chromium with a fresh profile and finding its DevTools endpoint.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::process::{Child, Command};

use super::cdp::Cdp;
use super::BrowserError;

/// Where Debian's `chromium` package puts the browser.
pub const DEFAULT_PATH: &str = super::DEFAULT_CHROMIUM;

/// The launch flags. Without the background-networking ones Chromium tries to reach outside
/// hosts at start-up; QUIC and the sandbox are off because only loopback HTTP/1.1 is used and
/// CI containers run as root.
pub const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// A running headless Chromium; killed (with its helper processes) when dropped.
pub struct Chromium {
    process: Process,
    /// The browser's DevTools connection.
    pub cdp: Cdp,
    /// `Browser.getVersion`'s product, e.g. `Chrome/156.0.8078.108`.
    pub version: String,
}

impl Chromium {
    /// Starts `path` and connects to its DevTools endpoint, all within `timeout`.
    pub async fn launch(path: &Path, timeout: Duration) -> Result<Self, BrowserError> {
        if !path.exists() {
            return Err(BrowserError::Missing(path.to_path_buf()));
        }
        let profile = tempfile::tempdir()
            .map_err(|e| BrowserError::Launch(format!("cannot create a profile directory: {e}")))?;
        let mut cmd = Command::new(path);
        cmd.args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--remote-debugging-port=0")
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            // Its own process group, so the renderer and zygote helpers die with it.
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| BrowserError::Launch(format!("cannot run {}: {e}", path.display())))?;
        let mut process = Process {
            child,
            _profile: profile,
        };
        let ws = process.devtools_url(timeout).await?;
        let cdp = Cdp::connect(&ws, timeout).await?;
        let v = cdp
            .call(None, "Browser.getVersion", json!({}), timeout)
            .await?;
        let version = v["product"].as_str().unwrap_or("unknown").to_owned();
        Ok(Chromium {
            process,
            cdp,
            version,
        })
    }

    /// Asks the browser to close, then makes sure it is gone.
    pub async fn close(mut self) {
        let _ = self
            .cdp
            .call(None, "Browser.close", json!({}), Duration::from_secs(2))
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.process.child.wait()).await;
    }
}

/// The browser process and its profile directory.
struct Process {
    child: Child,
    // Kept until the browser is gone: its profile lives here.
    _profile: tempfile::TempDir,
}

impl Process {
    /// Reads `DevToolsActivePort` (port, then path) from the profile once Chromium writes it.
    async fn devtools_url(&mut self, timeout: Duration) -> Result<String, BrowserError> {
        let file: PathBuf = self._profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    return Ok(format!("ws://127.0.0.1:{}{}", port.trim(), path.trim()));
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BrowserError::Launch(format!(
                    "chromium exited at start-up ({status})"
                )));
            }
            if Instant::now() >= deadline {
                return Err(BrowserError::Launch(format!(
                    "chromium wrote no DevTools port in {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // The whole group: the browser and its helpers (no unsafe `kill(2)` binding).
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}
