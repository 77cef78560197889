//! Topic names: which a publisher may use, and which events a subscriber wants.

use crate::error::PublishError;

/// Longest accepted topic name.
const MAX_TOPIC_LEN: usize = 256;

/// A topic name a publisher may use: non-empty and at most [`MAX_TOPIC_LEN`] bytes.
pub(crate) fn check_topic(topic: Option<&str>) -> Result<(), PublishError> {
    match topic {
        Some(t) if t.is_empty() || t.len() > MAX_TOPIC_LEN => Err(PublishError::BadTopic),
        _ => Ok(()),
    }
}

/// Which topics a subscriber wants: all (no `topic` parameter) or a list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Topics(Option<Box<[Box<str>]>>);

impl Topics {
    pub fn new(list: Vec<String>) -> Self {
        if list.is_empty() {
            return Topics(None);
        }
        Topics(Some(list.into_iter().map(String::into_boxed_str).collect()))
    }

    /// Unfiltered subscribers get every event; filtered ones only events of their topics.
    pub fn matches(&self, topic: Option<&str>) -> bool {
        match (&self.0, topic) {
            (None, _) => true,
            (Some(list), Some(t)) => list.iter().any(|x| &**x == t),
            (Some(_), None) => false,
        }
    }
}
