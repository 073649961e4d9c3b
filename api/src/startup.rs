//! What the `cronops` process sets about itself before anything else runs.

/// No transparent huge pages: zeroing fresh 2 MiB pages took 40 % of the schedulers'
/// CPU in a burst and doubled their RSS. mimalloc is built not to ask for them (its
/// `no_thp` feature), and this flag keeps the process off them where the host's THP
/// mode is `always`. Failing to set it only costs that.
pub fn disable_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
}

/// Raises the soft limit on open files to the hard one, as Go's runtime and most servers
/// do. Every request in flight and every subscriber holds a socket: the scheduler's
/// default `SCHEDULER_MAX_IN_FLIGHT` alone (1,000) nearly fills the soft limit many
/// distributions start processes with (1,024), while the hard limit is far higher.
/// Returns the limit now in force, or `None` if it cannot be read.
pub fn raise_open_files_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft >= hard {
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => Some(hard),
        Err(_) => Some(soft),
    }
}

#[cfg(test)]
mod tests {
    use nix::sys::resource::{Resource, getrlimit};

    #[test]
    #[cfg(target_os = "linux")]
    fn the_open_files_limit_is_raised_to_the_hard_limit() {
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        // Started low, as under a distribution's default (nextest gives each test a
        // process of its own, so no other test sees this).
        nix::sys::resource::setrlimit(Resource::RLIMIT_NOFILE, 256.min(hard), hard).unwrap();
        assert_eq!(super::raise_open_files_limit(), Some(hard));
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (hard, hard));
    }
}
