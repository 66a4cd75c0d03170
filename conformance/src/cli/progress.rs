//! One progress helper for every long command. On a terminal: a bar (or a status line) redrawn
//! in place. Elsewhere (a CI log): a plain line at a steady interval, so a ten-minute run is
//! not ten silent minutes, and never a line per request or per check.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Progress on stderr.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    every: Duration,
    /// When the last plain line was printed (or the start).
    last: Mutex<Instant>,
}

impl Progress {
    /// A bar with a count (`37/127 chat.schema`), or plain lines every `every`.
    pub(crate) fn counted(every: Duration) -> Self {
        Self::with_template("{bar:30} {pos}/{len} {msg}", every)
    }

    /// A status line without a bar (a load's rate and percentiles), or plain lines.
    pub(crate) fn status(every: Duration) -> Self {
        Self::with_template("{msg}", every)
    }

    fn with_template(template: &str, every: Duration) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            every,
            last: Mutex::new(Instant::now()),
        }
    }

    /// Shows where the work is: `pos` of `len` and `message` on a terminal; elsewhere the
    /// line `plain` makes, when `every` has passed since the last one.
    pub(crate) fn show(&self, pos: u64, len: u64, message: &str, plain: impl FnOnce() -> String) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(len);
                bar.set_position(pos);
                bar.set_message(message.to_owned());
            }
            None => {
                if self.due() {
                    eprintln!("{}", plain());
                }
            }
        }
    }

    /// Whether a plain line is due, and if so, starts the next interval.
    fn due(&self) -> bool {
        let Ok(mut last) = self.last.lock() else {
            return false;
        };
        if last.elapsed() < self.every {
            return false;
        }
        *last = Instant::now();
        true
    }

    /// A line of its own (a sweep's step), above the bar on a terminal.
    pub(crate) fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bar; plain lines stay in the log.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_come_once_per_interval() {
        let p = Progress {
            bar: None,
            every: Duration::from_secs(3600),
            last: Mutex::new(Instant::now()),
        };
        assert!(!p.due(), "nothing is due before the first interval");
        let p = Progress {
            every: Duration::ZERO,
            ..p
        };
        assert!(p.due());
        let p = Progress {
            every: Duration::from_secs(3600),
            ..p
        };
        assert!(!p.due(), "an interval starts again after each line");
    }
}
