//! Cursor values as times and amounts (README "Incremental reads"): dates
//! in ISO 8601 / RFC 3339 or epoch seconds, durations in ISO 8601 (`P1D`,
//! `PT6H`) or short form (`1d`, `6h`, `30m`, `90s`), and the arithmetic a
//! lookback or a date window does on a cursor value, which keeps the
//! value's own format.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde_json::Value;

/// How a date is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// `2024-01-02T03:04:05Z` (fractions kept when there are any).
    Rfc3339,
    /// `2024-01-02T03:04:05`, no offset (read as UTC).
    Naive,
    /// `2024-01-02`.
    Date,
    /// Seconds since 1970 as a JSON number.
    Epoch,
    /// Milliseconds since 1970 as a JSON number.
    EpochMs,
    /// A strftime format, written as a string.
    Strftime(String),
}

impl Format {
    /// The format named in a config (`rfc3339`, `date`, `epoch`,
    /// `epoch_ms` or a strftime format).
    pub fn named(name: &str) -> Result<Format, String> {
        Ok(match name {
            "rfc3339" | "iso8601" => Format::Rfc3339,
            "date" => Format::Date,
            "epoch" => Format::Epoch,
            "epoch_ms" => Format::EpochMs,
            other => {
                use chrono::format::{Item, StrftimeItems};
                if !other.contains('%')
                    || StrftimeItems::new(other).any(|i| matches!(i, Item::Error))
                {
                    return Err(format!(
                        "`{other}` is not `rfc3339`, `date`, `epoch`, `epoch_ms` or a strftime format"
                    ));
                }
                Format::Strftime(other.to_string())
            }
        })
    }

    /// The format a value is written in, when it is a date.
    pub fn of(v: &Value) -> Option<Format> {
        match v {
            Value::Number(_) => Some(Format::Epoch),
            Value::String(s) => {
                let s = s.trim();
                if DateTime::parse_from_rfc3339(s).is_ok() {
                    Some(Format::Rfc3339)
                } else if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
                    Some(Format::Date)
                } else if naive(s).is_some() {
                    Some(Format::Naive)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    pub fn write(&self, t: DateTime<Utc>) -> Value {
        match self {
            Format::Rfc3339 => Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Format::Naive => Value::String(t.format("%Y-%m-%dT%H:%M:%S").to_string()),
            Format::Date => Value::String(t.format("%Y-%m-%d").to_string()),
            Format::Epoch => Value::from(t.timestamp()),
            Format::EpochMs => Value::from(t.timestamp_millis()),
            Format::Strftime(f) => Value::String(t.format(f).to_string()),
        }
    }
}

fn naive(s: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

/// A value as an instant: RFC 3339, ISO 8601 date or date-time (UTC when
/// it has no offset), or epoch seconds (a number or a numeric string).
pub fn instant(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => epoch(n.as_f64()?),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                return Some(t.with_timezone(&Utc));
            }
            if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                return Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?));
            }
            if let Some(t) = naive(s) {
                return Some(Utc.from_utc_datetime(&t));
            }
            epoch(s.parse::<f64>().ok()?)
        }
        _ => None,
    }
}

fn epoch(secs: f64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis((secs * 1000.0).round() as i64)
}

/// A duration in seconds: ISO 8601 (`P1D`, `PT1H30M`, `P1W`, `P1DT12H`),
/// short (`1d`, `12h`, `30m`, `90s`, `1w`), or a number.
pub fn duration(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) if n.as_f64().is_some_and(|f| f > 0.0) => Ok(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => {
            let t = s.trim();
            let secs = if let Some(iso) = t.strip_prefix('P') {
                iso_duration(iso)
            } else {
                short_duration(t)
            };
            match secs {
                Some(s) if s > 0.0 => Ok(s),
                _ => Err(format!(
                    "`{s}` is not a duration like P1D, PT6H, 1d, 6h, 30m or 90s"
                )),
            }
        }
        other => Err(format!("`{other}` is not a positive duration")),
    }
}

fn iso_duration(t: &str) -> Option<f64> {
    let (date, time) = match t.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (t, None),
    };
    let mut total = 0.0;
    let mut read = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut n = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                n.push(c);
            } else {
                let unit = units.iter().find(|(u, _)| *u == c)?.1;
                total += n.parse::<f64>().ok()? * unit;
                n.clear();
            }
        }
        n.is_empty().then_some(())
    };
    read(date, &[('W', 604_800.0), ('D', 86_400.0)])?;
    if let Some(time) = time {
        if time.is_empty() {
            return None;
        }
        read(time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    Some(total)
}

fn short_duration(t: &str) -> Option<f64> {
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (n, unit) = t.split_at(split);
    let n: f64 = n.parse().ok()?;
    let unit = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        _ => return None,
    };
    Some(n * unit)
}

/// `v` moved by `secs` (negative: back), in `v`'s own kind: a number
/// stays a number, a date string a date in `format` (or its own format).
pub fn shift(v: &Value, secs: f64, format: Option<&Format>) -> Option<Value> {
    match v {
        Value::Number(n) => {
            if let (Some(i), true) = (n.as_i64(), secs.fract() == 0.0) {
                Some(Value::from(i + secs as i64))
            } else {
                serde_json::Number::from_f64(n.as_f64()? + secs).map(Value::Number)
            }
        }
        Value::String(_) => {
            let t = instant(v)?;
            let moved = t + chrono::Duration::milliseconds((secs * 1000.0).round() as i64);
            let own = Format::of(v);
            let f = format.or(own.as_ref())?;
            Some(f.write(moved))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_in_every_documented_format() {
        let t = instant(&json!("2024-01-02T03:04:05Z")).unwrap();
        assert_eq!(t.timestamp(), 1_704_164_645);
        assert_eq!(instant(&json!("2024-01-02T05:04:05+02:00")), Some(t));
        assert_eq!(instant(&json!("2024-01-02T03:04:05")), Some(t));
        assert_eq!(instant(&json!("2024-01-02 03:04:05")), Some(t));
        assert_eq!(instant(&json!(1_704_164_645)), Some(t));
        assert_eq!(instant(&json!("1704164645")), Some(t));
        assert_eq!(
            instant(&json!("2024-01-02")).unwrap().timestamp(),
            1_704_153_600
        );
        assert_eq!(instant(&json!("soon")), None);
    }

    #[test]
    fn durations_iso_and_short() {
        for (text, secs) in [
            ("P1D", 86_400.0),
            ("PT6H", 21_600.0),
            ("P1DT12H", 129_600.0),
            ("PT1H30M", 5_400.0),
            ("P1W", 604_800.0),
            ("1d", 86_400.0),
            ("12h", 43_200.0),
            ("30m", 1_800.0),
            ("90s", 90.0),
        ] {
            assert_eq!(duration(&json!(text)), Ok(secs), "{text}");
        }
        assert_eq!(duration(&json!(5)), Ok(5.0));
        assert!(duration(&json!("P1M")).is_err());
        assert!(duration(&json!("1y")).is_err());
        assert!(duration(&json!("PT")).is_err());
        assert!(duration(&json!(0)).is_err());
    }

    #[test]
    fn shifts_keep_the_value_s_kind_and_format() {
        assert_eq!(shift(&json!(100), -30.0, None), Some(json!(70)));
        assert_eq!(
            shift(&json!("2024-01-02T00:00:00Z"), -86_400.0, None),
            Some(json!("2024-01-01T00:00:00Z"))
        );
        assert_eq!(
            shift(&json!("2024-01-02"), 86_400.0, None),
            Some(json!("2024-01-03"))
        );
        assert_eq!(
            shift(&json!("2024-01-02"), 3600.0, Some(&Format::Epoch)),
            Some(json!(1_704_157_200))
        );
        assert_eq!(shift(&json!("later"), 1.0, None), None);
        assert_eq!(
            Format::named("%d/%m/%Y")
                .unwrap()
                .write(instant(&json!("2024-01-02")).unwrap()),
            json!("02/01/2024")
        );
        assert!(Format::named("nope").is_err());
    }
}
