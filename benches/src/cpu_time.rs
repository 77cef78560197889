//! This thread's CPU time: on a shared machine, time a thread spends preempted by other
//! processes is not the parser's, and wall time counts it.

use std::time::Duration;

/// This thread's CPU time so far (`CLOCK_THREAD_CPUTIME_ID`).
#[cfg(unix)]
pub fn thread_cpu_time() -> Duration {
    use rustix::time::{clock_gettime, ClockId};
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Without a thread CPU clock: wall time since the first call.
#[cfg(not(unix))]
pub fn thread_cpu_time() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_advances_with_work_and_not_with_sleep() {
        let start = thread_cpu_time();
        std::thread::sleep(Duration::from_millis(50));
        let slept = thread_cpu_time() - start;
        if cfg!(unix) {
            assert!(slept < Duration::from_millis(25), "{slept:?}");
        }
        // Work until this thread's clock has advanced 10 ms. On a loaded machine that takes
        // longer in wall time, never forever: the deadline only bounds the test.
        let before = thread_cpu_time();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut x = 0u64;
        while thread_cpu_time() - before < Duration::from_millis(10) {
            assert!(
                std::time::Instant::now() < deadline,
                "20 s of work did not advance the thread's CPU clock by 10 ms"
            );
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
    }
}
