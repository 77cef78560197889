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
}
