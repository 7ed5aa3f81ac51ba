//! The rate-limit fields servers send, read the same way by the component
//! (a 403 or 429 to wait out) and the host (a pause for every instance of a
//! run): `X-RateLimit-Remaining`/`X-RateLimit-Reset` (GitHub and many
//! others; the reset in epoch seconds or as seconds from now),
//! `RateLimit-Remaining`/`RateLimit-Reset`, and the IETF structured
//! `RateLimit` (`"default";r=0;t=30`, or `limit=100, remaining=0, reset=30`)
//! with `RateLimit-Policy` (`"default";q=100;w=60`, the window when no reset
//! is given).

/// What a response says about the rate limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests left in the window.
    pub remaining: Option<u64>,
    /// Milliseconds from now until the window resets.
    pub reset_ms: Option<u64>,
}

/// A reset value at least this large is an epoch time in seconds, not a
/// number of seconds from now (2001-09-09).
const EPOCH_SECONDS_FROM: u64 = 1_000_000_000;

impl RateLimit {
    /// Reads the fields from a response's headers (`header` looks one up by
    /// name, any case); `now_ms` is the Unix time in milliseconds.
    pub fn read<'h>(header: impl Fn(&str) -> Option<&'h str>, now_ms: i64) -> RateLimit {
        let mut rl = RateLimit::default();
        let number = |v: &str| {
            v.trim()
                .trim_matches('"')
                .parse::<f64>()
                .ok()
                .filter(|n| *n >= 0.0)
        };
        for name in ["x-ratelimit-remaining", "ratelimit-remaining"] {
            if let Some(n) = header(name).and_then(number) {
                rl.remaining = Some(n as u64);
            }
        }
        let reset_from = |n: f64| -> u64 {
            if n as u64 >= EPOCH_SECONDS_FROM {
                ((n * 1000.0) as i64).saturating_sub(now_ms).max(0) as u64
            } else {
                (n * 1000.0) as u64
            }
        };
        for name in ["x-ratelimit-reset", "ratelimit-reset"] {
            if let Some(n) = header(name).and_then(number) {
                rl.reset_ms = Some(reset_from(n));
            }
        }
        if let Some(field) = header("ratelimit") {
            for (key, value) in params(field) {
                match key.as_str() {
                    "r" | "remaining" => rl.remaining = number(&value).map(|n| n as u64),
                    "t" | "reset" => rl.reset_ms = number(&value).map(|n| (n * 1000.0) as u64),
                    _ => {}
                }
            }
        }
        if rl.reset_ms.is_none()
            && rl.remaining == Some(0)
            && let Some(policy) = header("ratelimit-policy")
        {
            rl.reset_ms = params(policy)
                .into_iter()
                .find(|(k, _)| k == "w")
                .and_then(|(_, w)| number(&w))
                .map(|n| (n * 1000.0) as u64);
        }
        rl
    }

    /// No request is left and the server said when that changes: how long
    /// to wait.
    pub fn exhausted_for(&self) -> Option<u64> {
        (self.remaining == Some(0))
            .then_some(self.reset_ms)
            .flatten()
    }
}

/// `key=value` parameters of a structured field, lower-cased keys, across
/// its items (`,`) and parameters (`;`).
fn params(field: &str) -> Vec<(String, String)> {
    field
        .split([',', ';'])
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(headers: &[(&str, &str)], now_ms: i64) -> RateLimit {
        RateLimit::read(
            |name| {
                headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| *v)
            },
            now_ms,
        )
    }

    #[test]
    fn the_spellings_servers_use() {
        // GitHub: the reset is an epoch time in seconds.
        let gh = read(
            &[
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset", "1700000010"),
            ],
            1_700_000_007_500,
        );
        assert_eq!(
            gh,
            RateLimit {
                remaining: Some(0),
                reset_ms: Some(2_500)
            }
        );
        assert_eq!(gh.exhausted_for(), Some(2_500));
        // A delta in seconds.
        let delta = read(
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "3")],
            5,
        );
        assert_eq!(delta.exhausted_for(), Some(3_000));
        // IETF draft 8 and later, and the older combined spelling.
        let ietf = read(&[("RateLimit", r#""default";r=0;t=2"#)], 0);
        assert_eq!(ietf.exhausted_for(), Some(2_000));
        let old = read(&[("RateLimit", "limit=100, remaining=0, reset=4")], 0);
        assert_eq!(old.exhausted_for(), Some(4_000));
        let split = read(&[("RateLimit-Remaining", "0"), ("RateLimit-Reset", "1")], 0);
        assert_eq!(split.exhausted_for(), Some(1_000));
        // The policy's window when no reset is given.
        let policy = read(
            &[
                ("RateLimit", r#""default";r=0"#),
                ("RateLimit-Policy", r#""default";q=100;w=60"#),
            ],
            0,
        );
        assert_eq!(policy.exhausted_for(), Some(60_000));
        // Requests left, or no reset: nothing to wait for.
        assert_eq!(
            read(
                &[("X-RateLimit-Remaining", "5"), ("X-RateLimit-Reset", "3")],
                0
            )
            .exhausted_for(),
            None
        );
        assert_eq!(
            read(&[("X-RateLimit-Remaining", "0")], 0).exhausted_for(),
            None
        );
        assert_eq!(read(&[], 0), RateLimit::default());
        // A reset already past is no wait.
        assert_eq!(
            read(
                &[
                    ("X-RateLimit-Remaining", "0"),
                    ("X-RateLimit-Reset", "1700000000")
                ],
                1_700_000_100_000
            )
            .exhausted_for(),
            Some(0)
        );
    }
}
