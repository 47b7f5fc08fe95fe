//! Bounded waiting: every wait in the lab has a deadline and a poll interval.

use crate::error::{LabError, Result};
use std::time::{Duration, Instant};

/// Polls `condition` every `poll_interval` until it returns true (then `Ok`) or `timeout` has
/// passed (then an error naming the timeout). The condition is always evaluated at least once,
/// and once more at the deadline, so a slow first poll cannot cause a spurious failure.
pub fn wait_until<F: FnMut() -> bool>(
    timeout: Duration,
    poll_interval: Duration,
    mut condition: F,
) -> Result<()> {
    wait_for(timeout, poll_interval, || condition().then_some(()))
}

/// Polls `probe` every `poll_interval` until it returns `Some(value)` (then `Ok(value)`) or
/// `timeout` has passed. Like [`wait_until`], but hands back what was found.
pub fn wait_for<T, F: FnMut() -> Option<T>>(
    timeout: Duration,
    poll_interval: Duration,
    mut probe: F,
) -> Result<T> {
    let start = Instant::now();
    let deadline = start + timeout;
    loop {
        if let Some(v) = probe() {
            return Ok(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(LabError::new(format!(
                "condition not met within {:.1} s",
                timeout.as_secs_f64()
            )));
        }
        std::thread::sleep(poll_interval.min(deadline - now));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn returns_as_soon_as_the_condition_holds() {
        let mut n = 0;
        let t = Instant::now();
        wait_until(Duration::from_secs(5), Duration::from_millis(1), || {
            n += 1;
            n == 3
        })
        .unwrap();
        assert_eq!(n, 3);
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn times_out_with_an_error() {
        let t = Instant::now();
        let e = wait_until(Duration::from_millis(50), Duration::from_millis(10), || {
            false
        })
        .unwrap_err();
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert!(e.0.contains("not met"), "{e}");
    }

    #[test]
    fn wait_for_hands_back_the_value() {
        let mut n = 0u32;
        let v = wait_for(Duration::from_secs(1), Duration::from_millis(1), || {
            n += 1;
            (n > 2).then_some(n * 10)
        })
        .unwrap();
        assert_eq!(v, 30);
    }
}
