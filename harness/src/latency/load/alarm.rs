//! Waking at a due time to the microsecond, inside the runtime.
//!
//! The runtime's own timers tick once a millisecond, and every latency of the open loop is
//! measured from the due time, so a late wake would be counted against the target. A thread of
//! its own sleeping with the OS's clock is exact but costs two context switches per request.
//! On Linux a timerfd (a kernel high-resolution timer with no slack, read as a file) is
//! registered with the runtime's reactor instead: the runtime's thread wakes from the same
//! epoll wait that serves the sockets, at the due time. Elsewhere the runtime's timer is used,
//! and its millisecond shows in the lag report.

use std::time::Instant;

/// A reusable wake-up at a due time.
pub(super) struct Alarm {
    #[cfg(target_os = "linux")]
    timer: Option<tokio::io::unix::AsyncFd<linux::Timer>>,
}

impl Alarm {
    /// An alarm; on Linux a timerfd when one can be made, else the runtime's timer.
    pub(super) fn new() -> Self {
        Self {
            #[cfg(target_os = "linux")]
            timer: linux::Timer::new().ok(),
        }
    }

    /// Returns at `due` (at once if it has passed).
    pub(super) async fn until(&mut self, due: Instant) {
        let now = Instant::now();
        if due <= now {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(timer) = &self.timer {
            if linux::wait(timer, due - now).await.is_ok() {
                return;
            }
        }
        tokio::time::sleep_until(due.into()).await;
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use nix::sys::time::TimeSpec;
    use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
    use std::os::fd::{AsFd, AsRawFd, RawFd};
    use std::time::Duration;
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    /// A non-blocking timerfd on the monotonic clock (the clock `Instant` reads).
    pub(super) struct Timer(TimerFd);

    impl AsRawFd for Timer {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_fd().as_raw_fd()
        }
    }

    impl Timer {
        pub(super) fn new() -> std::io::Result<AsyncFd<Timer>> {
            let fd = TimerFd::new(
                ClockId::CLOCK_MONOTONIC,
                TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
            )?;
            // Tokio deprecates this constructor for types that might hand it a descriptor they
            // do not own (its replacement is `unsafe`, which this workspace forbids). `Timer`
            // owns its timerfd, which stays open and the same until the `AsyncFd` drops it:
            // the condition the replacement asks the caller to promise.
            #[allow(deprecated)]
            AsyncFd::with_interest(Timer(fd), Interest::READABLE)
        }
    }

    /// Arms the timer `left` from now and waits until it fires.
    pub(super) async fn wait(timer: &AsyncFd<Timer>, left: Duration) -> std::io::Result<()> {
        // A zero expiration would disarm it: a nanosecond is as good as now.
        let left = left.max(Duration::from_nanos(1));
        let due = std::time::Instant::now() + left;
        // Arming it again resets its count of expirations, so it need not be read: the
        // reactor is edge-triggered and reports the next expiration as a new edge. A stale
        // readiness (from an earlier arming) is told apart by the clock.
        timer
            .get_ref()
            .0
            .set(
                Expiration::OneShot(TimeSpec::from_duration(left)),
                TimerSetTimeFlags::empty(),
            )
            .map_err(std::io::Error::from)?;
        loop {
            let mut ready = timer.readable().await?;
            ready.clear_ready();
            if std::time::Instant::now() >= due {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn it_wakes_at_the_due_time_not_before() {
        let mut alarm = Alarm::new();
        for gap in [50u64, 300, 2_000] {
            let due = Instant::now() + Duration::from_micros(gap);
            alarm.until(due).await;
            assert!(Instant::now() >= due, "woke before a {gap} µs due time");
        }
        // A due time that has passed returns at once.
        alarm.until(Instant::now() - Duration::from_millis(1)).await;
    }
}
