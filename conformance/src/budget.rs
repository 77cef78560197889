//! The request budget of a run against a finite stream (`--max-requests`). Every request that
//! carries the stream's opening (its method and body, to its URL) may start a generation, and
//! on a paid LLM endpoint each generation is billed. Checks take from the budget before they
//! send; a check whose need it cannot cover SKIPs, saying how many requests it needs and how
//! to allow them, and P09 reports how many were sent and by which check.

use std::sync::Mutex;

/// How many requests that can start a generation a run may send, and who took how many.
#[derive(Debug, Default)]
pub struct Budget {
    limit: Option<u32>,
    taken: Mutex<Vec<(String, u32)>>,
}

/// A request for more than the budget has left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Who asked (a check id, or `baseline`).
    pub what: String,
    /// How many it asked for.
    pub needed: u32,
    /// The budget (`--max-requests`).
    pub limit: u32,
    /// How many were taken before.
    pub spent: u32,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} needs {} request(s) that can start a generation, and --max-requests {} has {} \
             left ({} already sent): run with --max-requests {} or more to include it",
            self.what,
            self.needed,
            self.limit,
            self.limit.saturating_sub(self.spent),
            self.spent,
            self.spent.saturating_add(self.needed)
        )
    }
}

impl std::error::Error for Refused {}

impl Budget {
    /// A budget of `limit` requests (`None`: no limit, the default).
    pub fn new(limit: Option<u32>) -> Self {
        Budget {
            limit,
            taken: Mutex::new(Vec::new()),
        }
    }

    /// The limit (`--max-requests`), if any.
    pub fn limit(&self) -> Option<u32> {
        self.limit
    }

    /// Takes `n` requests for `what`, all or none: checks running at the same time cannot
    /// together overspend, because the test and the taking happen under one lock.
    pub fn take(&self, what: &str, n: u32) -> Result<(), Refused> {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        let spent: u32 = taken.iter().map(|(_, k)| k).sum();
        if let Some(limit) = self.limit {
            if spent.saturating_add(n) > limit {
                return Err(Refused {
                    what: what.to_owned(),
                    needed: n,
                    limit,
                    spent,
                });
            }
        }
        match taken.iter_mut().find(|(w, _)| w == what) {
            Some((_, k)) => *k += n,
            None => taken.push((what.to_owned(), n)),
        }
        Ok(())
    }

    /// How many requests were taken (each one is sent right after it is taken).
    pub fn spent(&self) -> u32 {
        self.ledger().iter().map(|(_, k)| k).sum()
    }

    /// Who took how many, in the order they first took.
    pub fn ledger(&self) -> Vec<(String, u32)> {
        self.taken.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_need_the_budget_cannot_cover_is_refused_whole_and_says_what_would_cover_it() {
        let b = Budget::new(Some(4));
        assert_eq!(b.take("baseline", 1), Ok(()));
        assert_eq!(b.take("H06", 1), Ok(()));
        let refused = b.take("P07", 3).unwrap_err();
        assert_eq!((refused.needed, refused.limit, refused.spent), (3, 4, 2));
        assert!(
            refused.to_string().contains("P07 needs 3")
                && refused.to_string().contains("2 left")
                && refused.to_string().contains("--max-requests 5 or more"),
            "{refused}"
        );
        // Nothing of a refused need is taken: what is left still serves a smaller one.
        assert_eq!(b.spent(), 2);
        assert_eq!(b.take("P04", 2), Ok(()));
        assert_eq!(b.take("P04", 1).unwrap_err().spent, 4);
        assert_eq!(
            b.ledger(),
            [("baseline".into(), 1), ("H06".into(), 1), ("P04".into(), 2)]
        );
    }

    #[test]
    fn without_a_limit_everything_is_counted() {
        let b = Budget::new(None);
        for _ in 0..3 {
            b.take("P07", 10).unwrap();
        }
        assert_eq!((b.spent(), b.limit()), (30, None));
    }
}
