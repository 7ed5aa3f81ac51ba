//! The rate limit of one run (`source.rate_limit`), shared by its
//! partitions.

use std::time::Duration;

/// Requests per second for one run, shared by its partitions: requests are
/// spaced `1/rate` apart; a 429 halves the rate (down to a sixteenth of
/// the configured one), and every success wins back 5 % of it.
#[derive(Debug)]
pub struct RateLimiter {
    max_rate: f64,
    inner: std::sync::Mutex<(f64, tokio::time::Instant)>,
}

impl RateLimiter {
    pub fn new(rate: f64) -> RateLimiter {
        RateLimiter {
            max_rate: rate,
            inner: std::sync::Mutex::new((rate, tokio::time::Instant::now())),
        }
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        let slot = {
            let mut inner = self.inner.lock().expect("limiter lock");
            let now = tokio::time::Instant::now();
            let slot = inner.1.max(now);
            inner.1 = slot + Duration::from_secs_f64(1.0 / inner.0);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    pub fn rate(&self) -> f64 {
        self.inner.lock().expect("limiter lock").0
    }

    pub(super) fn answered(&self, status: u16) {
        let mut inner = self.inner.lock().expect("limiter lock");
        inner.0 = if status == 429 {
            (inner.0 / 2.0).max(self.max_rate / 16.0)
        } else {
            (inner.0 * 1.05).min(self.max_rate)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_rate_limiter_spaces_requests_and_backs_off_on_429() {
        let limiter = RateLimiter::new(50.0);
        let start = tokio::time::Instant::now();
        for _ in 0..6 {
            limiter.acquire().await;
        }
        // Five gaps of 20 ms; the first request goes at once.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_millis(400),
            "{took:?}"
        );
        limiter.answered(429);
        assert_eq!(limiter.rate(), 25.0);
        for _ in 0..10 {
            limiter.answered(429);
        }
        assert_eq!(limiter.rate(), 50.0 / 16.0);
        for _ in 0..200 {
            limiter.answered(200);
        }
        assert_eq!(limiter.rate(), 50.0);
    }
}
