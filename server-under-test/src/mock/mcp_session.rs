//! MCP sessions and their SSE streams, kept apart from HTTP. A stream's events are logged
//! (bounded) as they are generated, and connections only follow the log, so a dropped
//! connection neither cancels the request (the spec says it must not) nor loses events: a GET
//! with `Last-Event-ID` resumes that stream from the log. A newer connection to the same
//! stream takes it over, so no message goes out on two connections.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::watch;

use super::frame;
use crate::behaviour::{Behaviour, MockConduct};

/// Sessions open at once; the least recently created goes first.
const MAX_SESSIONS: usize = 1024;
/// Streams remembered per session (for resumption); the oldest go first.
const MAX_STREAMS: usize = 64;
/// Events logged per stream; a generator that goes past it is cut short.
const MAX_EVENTS: usize = 10_000;

/// Every session of one server, and the one shared by everybody under `no-session-id`.
pub(crate) struct Sessions {
    open: Mutex<HashMap<String, Arc<Session>>>,
    anonymous: Arc<Session>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            open: Mutex::new(HashMap::new()),
            anonymous: Arc::new(Session::new(String::new())),
        }
    }
}

/// Why a request names no usable session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SessionError {
    /// No `Mcp-Session-Id` header (400).
    #[error("Bad Request: the Mcp-Session-Id header is required after initialize")]
    Missing,
    /// Unknown or ended session (404: the client must initialize again).
    #[error("Not Found: no such session (ended, or never started); initialize again")]
    Unknown,
}

impl Sessions {
    /// Starts a session with a fresh id (visible ASCII only, as the spec requires).
    pub fn create(&self) -> Arc<Session> {
        let session = Arc::new(Session::new(super::unique_id()));
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() >= MAX_SESSIONS {
            let oldest = open.values().min_by_key(|s| s.serial).map(|s| s.id.clone());
            if let Some(old) = oldest.and_then(|id| open.remove(&id)) {
                old.end();
            }
        }
        open.insert(session.id.clone(), Arc::clone(&session));
        session
    }

    /// The session a request names; under `no-session-id` every request shares one.
    pub fn find(&self, id: Option<&str>, enforce: bool) -> Result<Arc<Session>, SessionError> {
        if !enforce {
            return Ok(Arc::clone(&self.anonymous));
        }
        let id = id.ok_or(SessionError::Missing)?;
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(id).cloned().ok_or(SessionError::Unknown)
    }

    /// Ends a session: its streams end and later requests naming it get 404.
    pub fn end(&self, session: &Session) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(&session.id);
        session.end();
    }
}

/// One client's session.
pub(crate) struct Session {
    pub id: String,
    serial: u64,
    next_stream: AtomicU64,
    streams: Mutex<Vec<Arc<StreamLog>>>,
    ended: watch::Sender<bool>,
}

impl Session {
    fn new(id: String) -> Self {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        Session {
            id,
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            next_stream: AtomicU64::new(1),
            streams: Mutex::new(Vec::new()),
            ended: watch::channel(false).0,
        }
    }

    /// A new stream: `s<N>` for a POST's answer, `g<N>` for a GET's server-to-client stream.
    pub fn new_stream(&self, kind: char, behaviour: Behaviour) -> Arc<StreamLog> {
        let n = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let log = Arc::new(StreamLog {
            name: format!("{kind}{n}"),
            behaviour,
            state: watch::channel(LogState::default()).0,
        });
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        if streams.len() >= MAX_STREAMS {
            streams.remove(0).close();
        }
        streams.push(Arc::clone(&log));
        log
    }

    /// The stream and position a `Last-Event-ID` of this session points at.
    pub fn resume_point(&self, last_event_id: &str) -> Option<(Arc<StreamLog>, usize)> {
        let (name, seq) = last_event_id.rsplit_once('-')?;
        let seq: usize = seq.parse().ok()?;
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let log = streams.iter().find(|s| s.name == name)?;
        (seq <= log.len()).then(|| (Arc::clone(log), seq))
    }

    /// Resolves when the session ends.
    pub async fn ended(&self) {
        let mut rx = self.ended.subscribe();
        let _ = rx.wait_for(|ended| *ended).await;
    }

    fn end(&self) {
        self.ended.send_replace(true);
        let streams = std::mem::take(&mut *self.streams.lock().unwrap_or_else(|e| e.into_inner()));
        for log in streams {
            log.close();
        }
    }
}

/// The events of one SSE stream, as generated.
pub(crate) struct StreamLog {
    name: String,
    behaviour: Behaviour,
    state: watch::Sender<LogState>,
}

#[derive(Default)]
struct LogState {
    frames: Vec<Bytes>,
    /// The last message logged (a JSON answer's body when the client takes no stream).
    last: Option<Value>,
    /// No more events will come.
    done: bool,
    /// `error-as-reset`: connections are cut after the last event instead of ending cleanly.
    reset: bool,
    /// Bumped by every connection that attaches; older ones see it and end.
    attached: u64,
}

/// What a connection following a log does next.
pub(crate) enum Step {
    /// Send these, then ask again.
    Send(Vec<Bytes>),
    /// Nothing new yet: wait for [`Follower::changed`].
    Wait,
    /// The stream is over: end the body.
    End,
    /// The stream failed under `error-as-reset`: cut the connection.
    Reset,
    /// Another connection took the stream over.
    TakenOver,
}

impl StreamLog {
    /// Appends one JSON-RPC message as an event with the next id.
    pub fn push(&self, message: &Value) {
        self.state.send_modify(|s| {
            if s.done || s.frames.len() >= MAX_EVENTS {
                return;
            }
            let id = self
                .behaviour
                .mock_event_id(&self.name, s.frames.len() as u64 + 1);
            s.frames.push(frame(None, Some(&id), message));
            s.last = Some(message.clone());
        });
    }

    /// No more events.
    pub fn close(&self) {
        self.state.send_modify(|s| s.done = true);
    }

    /// No more events, and the connections following it are cut (`error-as-reset`).
    pub fn reset(&self) {
        self.state.send_modify(|s| {
            s.done = true;
            s.reset = true;
        });
    }

    /// The last message logged.
    pub fn last_message(&self) -> Option<Value> {
        self.state.borrow().last.clone()
    }

    /// Events logged so far.
    pub fn len(&self) -> usize {
        self.state.borrow().frames.len()
    }

    /// Attaches a connection that has seen the first `seen` events.
    pub fn follow(self: &Arc<Self>, seen: usize) -> Follower {
        let mut me = 0;
        self.state.send_modify(|s| {
            s.attached += 1;
            me = s.attached;
        });
        Follower {
            rx: self.state.subscribe(),
            me,
            seen,
        }
    }
}

/// One connection's place in a stream.
pub(crate) struct Follower {
    rx: watch::Receiver<LogState>,
    me: u64,
    /// Events already sent on this connection (or before it, when resuming).
    pub seen: usize,
}

impl Follower {
    /// What to do now.
    pub fn next(&mut self) -> Step {
        let s = self.rx.borrow_and_update();
        if s.attached != self.me {
            return Step::TakenOver;
        }
        if self.seen < s.frames.len() {
            let fresh = s.frames[self.seen..].to_vec();
            self.seen = s.frames.len();
            return Step::Send(fresh);
        }
        match (s.done, s.reset) {
            (true, true) => Step::Reset,
            (true, false) => Step::End,
            _ => Step::Wait,
        }
    }

    /// Resolves when the log changes (or is dropped).
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_name_the_stream_and_resume_finds_it() {
        let sessions = Sessions::default();
        let session = sessions.create();
        let log = session.new_stream('s', Behaviour::default());
        log.push(&json!({"a": 1}));
        log.push(&json!({"a": 2}));
        let mut f = log.follow(0);
        let Step::Send(frames) = f.next() else {
            panic!("events expected")
        };
        assert!(std::str::from_utf8(&frames[1])
            .unwrap()
            .starts_with("id: s1-2\n"));
        let (found, seen) = session.resume_point("s1-1").expect("known id");
        assert_eq!((found.name.as_str(), seen), ("s1", 1));
        assert!(session.resume_point("s1-3").is_none() && session.resume_point("x").is_none());
        let mut newer = found.follow(seen);
        assert!(matches!(f.next(), Step::TakenOver));
        assert!(matches!(newer.next(), Step::Send(v) if v.len() == 1));
        log.close();
        assert!(matches!(newer.next(), Step::End));
    }

    #[test]
    fn sessions_are_required_unless_ignored() {
        let sessions = Sessions::default();
        let s = sessions.create();
        assert!(s.id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        assert!(sessions.find(Some(&s.id), true).is_ok());
        assert_eq!(sessions.find(None, true).err(), Some(SessionError::Missing));
        sessions.end(&s);
        assert_eq!(
            sessions.find(Some(&s.id), true).err(),
            Some(SessionError::Unknown)
        );
        assert!(sessions.find(None, false).is_ok());
    }
}
