//! The mock model shared by the three protocols: a fixed text cut into word tokens, produced
//! at a steady pace after a "thinking" pause, and failing after N tokens when asked. It knows
//! nothing of any wire format.

use std::time::Duration;

use crate::config::MockConfig;

/// The answer, one token per entry, repeated as often as `tokens` asks.
const WORDS: [&str; 12] = [
    "Tokens", " arrive", " one", " by", " one", " from", " the", " ssekit", " mock", " model", ",",
    " then",
];

/// The largest pause a request may ask for.
const MAX_PAUSE_MS: u64 = 600_000;
/// The most tokens a request may ask for.
const MAX_TOKENS: u32 = 100_000;

/// One generation: how many tokens, how fast, and whether it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub tokens: u32,
    pub token_every: Duration,
    pub think: Duration,
    pub fail_after: Option<u32>,
}

/// A query parameter the generator could not use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query parameter `{name}` must be a whole number up to {max}, not `{value}`")]
pub(crate) struct BadKnob {
    name: &'static str,
    value: String,
    max: u64,
}

impl Plan {
    /// The server's plan, with per-request overrides from the query string (`tokens`,
    /// `token_ms`, `think_ms`, `fail_after`), so one server can show every case.
    pub fn new(config: &MockConfig, query: Option<&str>) -> Result<Plan, BadKnob> {
        let mut plan = Plan {
            tokens: config.tokens,
            token_every: config.token_every,
            think: config.think,
            fail_after: config.fail_after,
        };
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*name {
                "tokens" => plan.tokens = knob("tokens", &value, 1, MAX_TOKENS.into())? as u32,
                "fail_after" => {
                    plan.fail_after = Some(knob("fail_after", &value, 0, MAX_TOKENS.into())? as u32)
                }
                "token_ms" => plan.token_every = millis("token_ms", &value)?,
                "think_ms" => plan.think = millis("think_ms", &value)?,
                _ => {}
            }
        }
        Ok(plan)
    }

    /// The `i`-th token (from 0).
    pub fn token(i: u32) -> &'static str {
        WORDS[i as usize % WORDS.len()]
    }

    /// How many tokens come before the end or the failure.
    pub fn produced(&self) -> u32 {
        self.fail_after.map_or(self.tokens, |f| f.min(self.tokens))
    }

    /// Whether the generation fails before its last token.
    pub fn fails(&self) -> bool {
        self.fail_after.is_some_and(|f| f < self.tokens)
    }

    /// The whole answer, for non-streaming responses.
    pub fn text(&self) -> String {
        (0..self.produced()).map(Plan::token).collect()
    }
}

fn knob(name: &'static str, value: &str, min: u64, max: u64) -> Result<u64, BadKnob> {
    value
        .parse::<u64>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| BadKnob {
            name,
            value: value.chars().take(40).collect(),
            max,
        })
}

fn millis(name: &'static str, value: &str) -> Result<Duration, BadKnob> {
    knob(name, value, 0, MAX_PAUSE_MS).map(Duration::from_millis)
}

/// Words in a prompt, the mock's stand-in for prompt tokens.
pub(crate) fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_overrides_the_server_plan() {
        let base = MockConfig::default();
        let plan = Plan::new(&base, Some("tokens=3&think_ms=50&fail_after=1&x=y")).unwrap();
        assert_eq!((plan.tokens, plan.think), (3, Duration::from_millis(50)));
        assert_eq!(
            (plan.produced(), plan.fails(), plan.text()),
            (1, true, "Tokens".into())
        );
        assert!(Plan::new(&base, Some("tokens=0")).is_err());
        assert!(Plan::new(&base, Some("think_ms=-1")).is_err());
        let plain = Plan::new(&base, None).unwrap();
        assert_eq!((plain.produced(), plain.fails()), (16, false));
    }
}
