//! Pauses per origin, shared by every instance of one run: when a response
//! says the origin's rate limit is used up (`X-RateLimit-Remaining: 0` with
//! a reset, or the IETF `RateLimit` fields: [`apiconn_text::ratelimit`]),
//! no request of the run goes to that origin before the reset. The host
//! reads these fields as it reads `source.rate_limit`: they are neither
//! auth nor pagination. A pause lasts at most the operator's
//! `--max-timeout-ms`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Default)]
pub struct Pauses {
    until: Mutex<HashMap<String, Instant>>,
}

impl Pauses {
    /// Waits until requests may go to `origin` again.
    pub async fn wait(&self, origin: &str) {
        let until = self.until.lock().expect("pauses lock").get(origin).copied();
        if let Some(until) = until
            && until > Instant::now()
        {
            tracing::info!(
                "waiting {} ms for the rate limit of {origin} to reset",
                (until - Instant::now()).as_millis()
            );
            tokio::time::sleep_until(until).await;
        }
    }

    /// Takes note of a response from `origin`: when its rate-limit fields
    /// say no request is left, the origin is paused until the reset (at
    /// most `longest`).
    pub fn answered(&self, origin: &str, headers: &http::HeaderMap, longest: Duration) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let rl = apiconn_text::ratelimit::RateLimit::read(
            |name| headers.get(name).and_then(|v| v.to_str().ok()),
            now_ms,
        );
        let Some(wait) = rl.exhausted_for() else {
            return;
        };
        let wait = Duration::from_millis(wait).min(longest);
        let until = Instant::now() + wait;
        let mut map = self.until.lock().expect("pauses lock");
        let slot = map.entry(origin.to_string()).or_insert(until);
        *slot = (*slot).max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_used_up_rate_limit_pauses_its_origin_only() {
        let pauses = Pauses::default();
        let mut h = http::HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert("x-ratelimit-reset", "1".parse().unwrap());
        pauses.answered("http://a", &h, Duration::from_millis(300));
        let start = Instant::now();
        pauses.wait("http://b").await;
        assert!(start.elapsed() < Duration::from_millis(100));
        pauses.wait("http://a").await;
        // One second asked, 300 ms allowed.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(290) && took < Duration::from_millis(900),
            "{took:?}"
        );
        // Requests left: no pause.
        h.insert("x-ratelimit-remaining", "3".parse().unwrap());
        pauses.answered("http://c", &h, Duration::from_secs(5));
        let start = Instant::now();
        pauses.wait("http://c").await;
        assert!(start.elapsed() < Duration::from_millis(100));
    }
}
