//! The wall clock objects are stamped with (`created`, `created_at`), for every layer: the
//! store stamps what it keeps without reaching into the HTTP layer for the time.

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
