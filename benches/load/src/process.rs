//! What the load generator reads about processes: a server's resident memory, the machine's
//! load average, and its own open-file limit.

/// Resident set size of process `pid` in KiB (`VmRSS` in `/proc/PID/status`), if readable.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time process `pid` has used so far, user plus system, in seconds (`/proc/PID/stat`
/// fields 14 and 15, in USER_HZ ticks, which Linux fixes at 100 per second for user space).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    const USER_HZ: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its closing one.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), if readable.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Raises the soft open-file limit as far as the hard limit allows, for `wanted` descriptors;
/// returns the limit now in force.
pub fn raise_nofile(wanted: u64) -> u64 {
    match rlimit::increase_nofile_limit(wanted) {
        Ok(now) => now,
        Err(_) => rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(soft, _)| soft),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_rss_is_readable_and_plausible() {
        let kib = rss_kib(std::process::id()).expect("VmRSS of this process");
        assert!(kib > 100, "{kib} KiB");
        assert!(load_average().is_some());
    }

    #[test]
    fn own_cpu_time_is_readable_and_grows_with_work() {
        let before = cpu_seconds(std::process::id()).expect("CPU time of this process");
        let started = std::time::Instant::now();
        let mut x = 0u64;
        // Busy for 300 ms of wall time; at least part of it is CPU time of this process.
        while started.elapsed() < std::time::Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let after = cpu_seconds(std::process::id()).unwrap();
        assert!(after > before, "{before} -> {after}");
    }
}
