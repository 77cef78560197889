//! The switches that only the mock endpoints (`/v1/chat/completions`, `/v1/messages`, `/mcp`)
//! ask about. They break the rules of request-initiated, finite streams; the `/stream` path
//! never consults them.

use std::time::Duration;

use super::{Misbehavior, Misbehaviors};
use crate::behaviour::{Conduct, MockConduct};

/// The interval a silent think is measured against when heartbeats are off.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

impl Misbehavior {
    /// Whether this switch concerns only the mock endpoints.
    pub(super) fn mock_only(self) -> bool {
        use Misbehavior::*;
        matches!(
            self,
            BufferUntilDone
                | NoDoneSentinel
                | CutMidStream
                | ErrorAsReset
                | SilentThink
                | NoSessionId
                | DuplicateEventIds
        )
    }
}

impl MockConduct for Misbehaviors {
    fn mock_holds_stream(self) -> bool {
        self.has(Misbehavior::BufferUntilDone)
    }

    fn mock_done_sentinel(self) -> bool {
        !self.has(Misbehavior::NoDoneSentinel)
    }

    fn mock_cut_after(self, tokens: u32) -> Option<u32> {
        self.has(Misbehavior::CutMidStream).then_some(tokens / 2)
    }

    fn mock_error_as_reset(self) -> bool {
        self.has(Misbehavior::ErrorAsReset)
    }

    fn mock_heartbeat(self, heartbeat: Option<Duration>) -> Option<Duration> {
        let silent = self.has(Misbehavior::SilentThink) || !self.heartbeats();
        heartbeat.filter(|_| !silent)
    }

    fn mock_think(self, think: Duration, heartbeat: Option<Duration>) -> Duration {
        if !self.has(Misbehavior::SilentThink) {
            return think;
        }
        think.max(heartbeat.unwrap_or(DEFAULT_HEARTBEAT) * 2)
    }

    fn mock_sessions(self) -> bool {
        !self.has(Misbehavior::NoSessionId)
    }

    fn mock_event_id(self, stream: &str, seq: u64) -> String {
        if self.has(Misbehavior::DuplicateEventIds) {
            let shown = if seq % 2 == 0 { seq - 1 } else { seq };
            return shown.to_string();
        }
        format!("{stream}-{seq}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_behaved_mocks_break_nothing() {
        let none = Misbehaviors::none();
        let hb = Some(Duration::from_secs(1));
        assert!(!none.mock_holds_stream() && none.mock_done_sentinel());
        assert_eq!(none.mock_cut_after(10), None);
        assert_eq!(none.mock_heartbeat(hb), hb);
        assert_eq!(none.mock_think(Duration::ZERO, hb), Duration::ZERO);
        assert_eq!(none.mock_event_id("s1", 2), "s1-2");
    }

    #[test]
    fn switches_bend_what_they_name() {
        let on = |m| Misbehaviors::from_list(&[m]);
        let hb = Some(Duration::from_secs(1));
        let silent = on(Misbehavior::SilentThink);
        assert_eq!(silent.mock_heartbeat(hb), None);
        assert_eq!(
            silent.mock_think(Duration::ZERO, hb),
            Duration::from_secs(2)
        );
        assert_eq!(on(Misbehavior::CutMidStream).mock_cut_after(10), Some(5));
        let dup = on(Misbehavior::DuplicateEventIds);
        let ids: Vec<_> = (1..=4).map(|s| dup.mock_event_id("s1", s)).collect();
        assert_eq!(ids, ["1", "1", "3", "3"]);
        assert!(dup.direct_streams() && Misbehaviors::none().direct_streams());
        assert!(
            !Misbehaviors::from_list(&[Misbehavior::SilentThink, Misbehavior::NoIds])
                .direct_streams()
        );
    }
}
