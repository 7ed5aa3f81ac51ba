//! Loading a config: JSON text to a checked [`Config`], with an
//! environment merged in (README "`source`": `environments`). Every
//! environment is checked, not just the one picked; nothing is built from
//! a config with a problem.

use super::check::check;
use super::connector::{Config, schema};
use crate::error::{Error, Problem};
use crate::schema_check;
use serde_json::{Map, Value};

/// Parses and validates a config: every problem at once, or the config with
/// the environment `env` merged in.
pub fn load(text: &str, env: Option<&str>) -> Result<Config, Error> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::config("", format!("config is not valid JSON: {e}")))?;
    load_value(value, env).map_err(Error::Config)
}

pub fn load_value(mut value: Value, env: Option<&str>) -> Result<Config, Vec<Problem>> {
    let schema = schema();
    let mut problems = schema_check::validate(schema, &value);
    problems.extend(check(&value));
    if !problems.is_empty() {
        return Err(problems);
    }
    // Every environment must be valid, not just the one picked.
    let envs: Vec<String> = value["source"]["environments"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for name in &envs {
        let merged = with_environment(&value, name);
        let mut found = schema_check::validate(schema, &merged);
        found.extend(check(&merged));
        for mut p in found {
            p.message = format!("{} (with environment `{name}`)", p.message);
            problems.push(p);
        }
    }
    match env {
        None => {}
        Some(name) if envs.iter().any(|e| e == name) => value = with_environment(&value, name),
        Some(name) => {
            let known = if envs.is_empty() {
                "none are defined".to_string()
            } else {
                format!("known: {}", envs.join(", "))
            };
            problems.push(Problem::new(
                "source.environments",
                format!("unknown environment `{name}` ({known})"),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    fill_offset_steps(&mut value);
    serde_json::from_value(value).map_err(|e| vec![Problem::new("", e.to_string())])
}

/// An offset loop without `step` steps by the page size the config sends
/// ([`super::check::offset_step`]; the checks made sure there is one).
fn fill_offset_steps(config: &mut Value) {
    let read = config["read"].clone();
    for at in ["/read/paginate", "/read/paginate/then"] {
        if let Some(loop_) = config.pointer_mut(at)
            && loop_["type"] == "offset"
            && loop_["step"].is_null()
            && let Ok(step) = super::check::offset_step(&read, loop_)
        {
            loop_["step"] = Value::from(step);
        }
    }
}

/// The config with `source.environments[name]` merged over `source`
/// (RFC 7386 merge patch: objects merge, `null` removes, anything else replaces).
fn with_environment(config: &Value, name: &str) -> Value {
    let mut merged = config.clone();
    let patch = config["source"]["environments"][name].clone();
    merge_patch(&mut merged["source"], &patch);
    merged
}

fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (k, v) in patch {
        if v.is_null() {
            target.remove(k);
        } else {
            merge_patch(target.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ArrayPolicy, Auth};

    #[test]
    fn a_minimal_config_loads_with_defaults() {
        let c = load(
            r#"{"source":{"name":"demo","url":"http://x"},"read":{}}"#,
            None,
        )
        .unwrap();
        assert_eq!(c.source.retries, 3);
        assert_eq!(c.source.timeout_ms, 30_000);
        let read = c.read.unwrap();
        assert_eq!(read.max_requests, 500);
        assert_eq!(read.flatten.separator, ".");
        assert_eq!(read.flatten.arrays, ArrayPolicy::Error);
        assert!(matches!(c.source.auth, Auth::None {}));
    }

    #[test]
    fn environments_merge_over_the_base() {
        let text = r#"{"source":{"name":"a","url":"http://prod","auth":{"type":"bearer","token":"p"},
            "environments":{"dev":{"url":"http://dev","auth":{"token":"d"}}}},"read":{}}"#;
        let c = load(text, Some("dev")).unwrap();
        assert_eq!(c.source.url, "http://dev");
        assert!(matches!(&c.source.auth, Auth::Bearer { token } if token == "d"));
        let c = load(text, None).unwrap();
        assert_eq!(c.source.url, "http://prod");
        let err = load(text, Some("qa")).unwrap_err().to_string();
        assert!(
            err.contains("unknown environment `qa` (known: dev)"),
            "{err}"
        );
        let bad = text.replace(
            r#""url":"http://dev""#,
            r#""url":"http://dev","retries":99"#,
        );
        let err = load(&bad, None).unwrap_err().to_string();
        assert!(
            err.contains("source.retries: must be at most 10 (with environment `dev`)"),
            "{err}"
        );
    }
}
