//! The descriptor limit: raised to the hard limit at start, so the connection cap, not
//! `EMFILE`, is what bounds connections.

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; the (soft, hard) limits after it, or
/// `None` where there is no such limit.
pub fn raise_descriptor_limit() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?;
        let soft = rlimit::increase_nofile_limit(hard).ok()?;
        Some((soft, hard))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The soft descriptor limit in force, where there is one.
pub fn soft_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rlimit::getrlimit(rlimit::Resource::NOFILE)
            .ok()
            .map(|(soft, _)| soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The default connection cap for a soft descriptor limit: nine tenths of it, less what the
/// server itself holds open (the index database, logs, the listener), at least 16.
pub fn default_cap(soft: Option<u64>) -> usize {
    match soft {
        Some(soft) => usize::try_from((soft / 10 * 9).saturating_sub(64))
            .unwrap_or(usize::MAX)
            .max(16),
        None => 10_000,
    }
}
