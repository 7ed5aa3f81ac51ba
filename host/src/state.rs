//! The state file of `apiconn read --state` (README, "Checkpoints and
//! continuous reads"): its one format, and how it is replaced.
//!
//! A read of one partition saves the component's checkpoint as it is (an
//! opaque JSON text); a partitioned read (`--concurrency`) saves
//! `{"partitions": {INITIAL: CHECKPOINT, …}}`, each partition's latest
//! checkpoint by its initial one. [`Saved::parse`] tells them apart.

use crate::run::Failure;
use std::io::Write;

/// The state of a partitioned read: each partition's checkpoint, by its
/// initial checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionStates {
    pub partitions: std::collections::BTreeMap<String, String>,
}

impl PartitionStates {
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("states are JSON")
    }
}

/// What a state file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// The checkpoint of a read of one partition.
    Single(String),
    Partitioned(PartitionStates),
}

impl Saved {
    pub fn parse(text: &str) -> Saved {
        let partitioned = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .filter(|v| {
                v.as_object()
                    .is_some_and(|o| o.len() == 1 && o.contains_key("partitions"))
            })
            .and_then(|v| serde_json::from_value(v).ok());
        match partitioned {
            Some(states) => Saved::Partitioned(states),
            None => Saved::Single(text.to_string()),
        }
    }

    /// The checkpoint of a one-partition read, or why this file is not one.
    pub fn single(saved: Option<Saved>) -> Result<Option<String>, Failure> {
        match saved {
            None => Ok(None),
            Some(Saved::Single(c)) => Ok(Some(c)),
            Some(Saved::Partitioned(_)) => Err(Failure::Run(
                "the state file holds a partitioned read: run it with the same --concurrency"
                    .into(),
            )),
        }
    }

    /// The states of a partitioned read, or why this file is not one.
    pub fn partitioned(saved: Option<Saved>) -> Result<PartitionStates, Failure> {
        match saved {
            None => Ok(PartitionStates::default()),
            Some(Saved::Partitioned(s)) => Ok(s),
            Some(Saved::Single(_)) => Err(Failure::Run(
                "the state file holds a read that was not partitioned: run it without --concurrency"
                    .into(),
            )),
        }
    }
}

/// What the state file of a whole read holds: the state of its one
/// stream as it is (a config of one `read` block, the format from before
/// streams), or `{"streams": {NAME: STATE, …}}`, each stream's state
/// (a checkpoint or a partitioned read's states) by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStates {
    Single(Option<String>),
    Streams(std::collections::BTreeMap<String, String>),
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamsFile {
    streams: std::collections::BTreeMap<String, String>,
}

impl StreamStates {
    /// The state of a config of one `read` block.
    pub fn single(text: Option<String>) -> StreamStates {
        StreamStates::Single(text)
    }

    /// The states of a config with `streams`; a state file from before
    /// streams is the state of the `read` block (`default`).
    pub fn parse(text: Option<&str>) -> StreamStates {
        let mut streams = std::collections::BTreeMap::new();
        if let Some(text) = text {
            match serde_json::from_str::<StreamsFile>(text) {
                Ok(file) => streams = file.streams,
                Err(_) => {
                    streams.insert("default".to_string(), text.to_string());
                }
            }
        }
        StreamStates::Streams(streams)
    }

    /// The saved state of `stream` (none: the only one).
    pub fn get(&self, stream: Option<&str>) -> Option<String> {
        match (self, stream) {
            (StreamStates::Single(s), _) => s.clone(),
            (StreamStates::Streams(m), Some(name)) => m.get(name).cloned(),
            (StreamStates::Streams(_), None) => None,
        }
    }

    pub fn set(&mut self, stream: Option<&str>, text: String) {
        match (self, stream) {
            (StreamStates::Streams(m), Some(name)) => {
                m.insert(name.to_string(), text);
            }
            (me, _) => *me = StreamStates::Single(Some(text)),
        }
    }

    pub fn to_text(&self) -> String {
        match self {
            StreamStates::Single(s) => s.clone().unwrap_or_default(),
            StreamStates::Streams(m) => {
                serde_json::to_string(&StreamsFile { streams: m.clone() }).expect("states are JSON")
            }
        }
    }
}

/// A checkpoint file, replaced atomically: a temporary file beside it,
/// written and fsynced, then renamed over it (and the directory fsynced).
pub struct StateFile {
    pub path: std::path::PathBuf,
}

impl StateFile {
    pub fn load(&self) -> Result<Option<String>, Failure> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) if text.trim().is_empty() => Ok(None),
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Failure::Run(format!(
                "reading the state file {}: {e}",
                self.path.display()
            ))),
        }
    }

    pub fn save(&self, checkpoint: &str) -> Result<(), Failure> {
        let fail = |e: std::io::Error| {
            Failure::Run(format!(
                "saving the state file {}: {e}",
                self.path.display()
            ))
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(fail)?;
        tmp.write_all(checkpoint.as_bytes()).map_err(fail)?;
        tmp.write_all(b"\n").map_err(fail)?;
        tmp.as_file().sync_all().map_err(fail)?;
        tmp.persist(&self.path).map_err(|e| fail(e.error))?;
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(fail)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_format_for_single_and_partitioned_reads() {
        let single = r#"{"position":{"page":3}}"#;
        assert_eq!(Saved::parse(single), Saved::Single(single.into()));
        let mut states = PartitionStates::default();
        states.partitions.insert("a".into(), "{}".into());
        let text = states.to_text();
        assert_eq!(text, r#"{"partitions":{"a":"{}"}}"#);
        assert_eq!(Saved::parse(&text), Saved::Partitioned(states.clone()));
        assert!(Saved::single(Some(Saved::parse(&text))).is_err());
        assert!(Saved::partitioned(Some(Saved::parse(single))).is_err());
        // A checkpoint with more keys than `partitions` is a checkpoint.
        let odd = r#"{"partitions":{},"page":1}"#;
        assert_eq!(Saved::parse(odd), Saved::Single(odd.into()));
    }

    #[test]
    fn stream_states_by_name_and_the_old_format_as_default() {
        let mut s = StreamStates::parse(None);
        s.set(Some("b"), "{\"done\":true}".into());
        s.set(Some("a"), "x".into());
        let text = s.to_text();
        assert_eq!(text, r#"{"streams":{"a":"x","b":"{\"done\":true}"}}"#);
        assert_eq!(StreamStates::parse(Some(&text)), s);
        let old = StreamStates::parse(Some(r#"{"done":false,"position":{"number":3}}"#));
        assert_eq!(
            old.get(Some("default")).as_deref(),
            Some(r#"{"done":false,"position":{"number":3}}"#)
        );
        assert_eq!(old.get(Some("other")), None);
    }

    #[test]
    fn saves_replace_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile {
            path: dir.path().join("state.json"),
        };
        assert_eq!(file.load().unwrap(), None);
        file.save("one").unwrap();
        file.save("two").unwrap();
        assert_eq!(file.load().unwrap().as_deref(), Some("two"));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
