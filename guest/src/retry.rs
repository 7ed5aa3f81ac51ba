//! When to try a request again, and how long to wait first (README
//! "`source`": `retries`; "Reliability").
//!
//! Retried: transport errors and timeouts, 429 and 5xx, and a 403 that says
//! it is a rate limit (GitHub: `X-RateLimit-Remaining: 0`, or a
//! `Retry-After`). Never retried: any other status. Backoff is exponential with jitter;
//! `Retry-After` (seconds or an HTTP date) is honoured, else the rate
//! limit's reset (`X-RateLimit-Reset`, `RateLimit`, see
//! [`apiconn_text::ratelimit`]), up to [`MAX_WAIT`].

use crate::request::HttpResponse;
use std::time::Duration;

/// The longest wait a server can ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(300);
const BASE: Duration = Duration::from_millis(250);
const CAP: Duration = Duration::from_secs(30);

pub fn retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// How long to wait before try number `attempt + 1` (attempt 0 is the first
/// try); `jitter` in `[0, 1)` spreads clients apart.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let exp = BASE.saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX));
    let capped = exp.min(CAP);
    capped.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

/// [`backoff`] with jitter from `env`'s random source.
pub fn jittered_backoff(attempt: u32, env: &mut dyn crate::request::Env) -> Duration {
    let mut jitter = [0u8; 1];
    env.fill_random(&mut jitter);
    backoff(attempt, f64::from(jitter[0]) / 256.0)
}

/// A status retried for this response: [`retryable_status`], or a 403
/// that says it is a rate limit — its rate-limit fields say no request is
/// left until a reset, or it has a `Retry-After` (GitHub's secondary
/// rate limit).
pub fn retryable(resp: &HttpResponse, now_ms: i64) -> bool {
    retryable_status(resp.status)
        || (resp.status == 403
            && (rate_limit_wait(resp, now_ms).is_some()
                || retry_after_header(resp, now_ms).is_some()))
}

/// How long the response's rate-limit fields say to wait: no request left
/// and a reset given.
pub fn rate_limit_wait(resp: &HttpResponse, now_ms: i64) -> Option<Duration> {
    apiconn_text::ratelimit::RateLimit::read(|name| resp.header(name), now_ms)
        .exhausted_for()
        .map(|ms| Duration::from_millis(ms).min(MAX_WAIT))
}

/// The wait the server asked for: its `Retry-After`, else the reset of a
/// used-up rate limit.
pub fn retry_after(resp: &HttpResponse, now_ms: i64) -> Option<Duration> {
    retry_after_header(resp, now_ms).or_else(|| rate_limit_wait(resp, now_ms))
}

/// The server's `Retry-After`, if it gave a usable one.
fn retry_after_header(resp: &HttpResponse, now_ms: i64) -> Option<Duration> {
    let value = resp.header("retry-after")?.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        let ms = at.timestamp_millis().saturating_sub(now_ms).max(0);
        Duration::from_millis(ms as u64)
    };
    Some(wait.min(MAX_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_retry_after(v: &str) -> HttpResponse {
        HttpResponse {
            status: 429,
            headers: vec![("Retry-After".into(), v.into())],
            body: vec![],
        }
    }

    #[test]
    fn statuses() {
        assert!(retryable_status(429));
        assert!(retryable_status(503));
        for s in [400, 401, 403, 404, 422, 200] {
            assert!(!retryable_status(s), "{s}");
        }
    }

    #[test]
    fn a_used_up_rate_limit_is_waited_out() {
        let gh = HttpResponse {
            status: 403,
            headers: vec![
                ("X-RateLimit-Remaining".into(), "0".into()),
                ("X-RateLimit-Reset".into(), "1700000002".into()),
            ],
            body: vec![],
        };
        assert!(retryable(&gh, 1_700_000_000_000));
        assert_eq!(
            retry_after(&gh, 1_700_000_000_000),
            Some(Duration::from_secs(2))
        );
        // A 403 with requests left is a refusal.
        let refused = HttpResponse {
            status: 403,
            headers: vec![("X-RateLimit-Remaining".into(), "10".into())],
            body: vec![],
        };
        assert!(!retryable(&refused, 0));
        // GitHub's secondary rate limit: a 403 with Retry-After.
        let secondary = HttpResponse {
            status: 403,
            headers: vec![("Retry-After".into(), "1".into())],
            body: vec![],
        };
        assert!(retryable(&secondary, 0));
        assert_eq!(retry_after(&secondary, 0), Some(Duration::from_secs(1)));
        // A 429 with the IETF field waits for its reset.
        let ietf = HttpResponse {
            status: 429,
            headers: vec![("RateLimit".into(), r#""default";r=0;t=3"#.into())],
            body: vec![],
        };
        assert_eq!(retry_after(&ietf, 0), Some(Duration::from_secs(3)));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0, 0.0), Duration::from_millis(125));
        assert_eq!(backoff(0, 1.0), Duration::from_millis(250));
        assert_eq!(backoff(3, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(40, 1.0), CAP);
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        assert_eq!(
            retry_after(&with_retry_after("2"), 0),
            Some(Duration::from_secs(2))
        );
        // Wed, 21 Oct 2015 07:28:00 GMT is 1445412480000 ms.
        let date = with_retry_after("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(
            retry_after(&date, 1_445_412_477_500),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(retry_after(&date, 1_445_412_490_000), Some(Duration::ZERO));
        assert_eq!(retry_after(&with_retry_after("86400"), 0), Some(MAX_WAIT));
        assert_eq!(retry_after(&with_retry_after("soon"), 0), None);
    }
}
