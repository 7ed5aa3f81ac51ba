//! The streams of a config (README "Several streams"): the `read` block is
//! the stream named `default`; `streams` adds named ones. Every stream
//! shares `source`.

use super::connector::Config;
use super::read::Read;
use crate::error::Error;

/// The name of the stream that a config's `read` block is.
pub const DEFAULT_STREAM: &str = "default";

impl Config {
    /// Every stream, `read` first (as [`DEFAULT_STREAM`]), then `streams`
    /// in the config's order.
    pub fn all_streams(&self) -> Vec<(&str, &Read)> {
        let mut all: Vec<(&str, &Read)> = Vec::new();
        if let Some(read) = &self.read {
            all.push((DEFAULT_STREAM, read));
        }
        for (name, read) in self.streams.iter().flatten() {
            all.push((name.as_str(), read));
        }
        all
    }

    /// The stream `name`; none: the config's only stream.
    pub fn stream(&self, name: Option<&str>) -> Result<(&str, &Read), Error> {
        let all = self.all_streams();
        match name {
            Some(name) => all.into_iter().find(|(n, _)| *n == name).ok_or_else(|| {
                let known: Vec<&str> = self.all_streams().iter().map(|(n, _)| *n).collect();
                Error::config(
                    "streams",
                    format!("no stream `{name}` (known: {})", known.join(", ")),
                )
            }),
            None => match all.len() {
                0 => Err(Error::config("read", "the config has no `read` block")),
                1 => Ok(all[0]),
                _ => {
                    let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
                    Err(Error::config(
                        "streams",
                        format!(
                            "the config has {} streams ({}): name the one to read",
                            names.len(),
                            names.join(", ")
                        ),
                    ))
                }
            },
        }
    }

    /// The config path of a stream's block: `read` or `streams.NAME`.
    pub fn stream_path(&self, name: &str) -> String {
        if name == DEFAULT_STREAM && self.read.is_some() {
            "read".into()
        } else {
            format!("streams.{name}")
        }
    }
}

/// The `{NAME}` placeholders of a path template, in order.
pub fn placeholders(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open + 1..].find('}') else {
            break;
        };
        out.push(&rest[open + 1..open + 1 + len]);
        rest = &rest[open + 2 + len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;

    #[test]
    fn read_is_the_default_stream_and_streams_follow_in_order() {
        let c = load(
            r#"{"source":{"name":"a","url":"http://x"},"read":{"path":"/r"},
                "streams":{"b":{"path":"/b"},"a":{"path":"/a"}}}"#,
            None,
        )
        .unwrap();
        let names: Vec<&str> = c.all_streams().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["default", "b", "a"]);
        assert_eq!(c.stream(Some("a")).unwrap().1.path, "/a");
        assert_eq!(
            c.stream(None).unwrap_err().to_string(),
            "invalid config:\n  streams: the config has 3 streams (default, b, a): name the one to read"
        );
        assert_eq!(
            c.stream(Some("zz")).unwrap_err().to_string(),
            "invalid config:\n  streams: no stream `zz` (known: default, b, a)"
        );
        assert_eq!(c.stream_path("default"), "read");
        assert_eq!(c.stream_path("b"), "streams.b");
    }

    #[test]
    fn placeholders_in_order() {
        assert_eq!(
            placeholders("/c/{customer_id}/i/{id}/"),
            ["customer_id", "id"]
        );
        assert!(placeholders("/plain").is_empty());
    }
}
