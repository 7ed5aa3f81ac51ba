//! Structural validation of a config against its own JSON Schema.
//!
//! serde stops at the first error; users want every mistake at once, each
//! with its path. This walks the schema that schemars generates from the
//! config types (only the keywords schemars emits for them) and collects
//! every problem. Tagged unions are resolved by their tag, so a typo inside
//! `source.auth` is reported as that key, not as "matches no variant".

use crate::error::Problem;
use serde_json::{Map, Value};

pub fn validate(schema: &Value, value: &Value) -> Vec<Problem> {
    let mut v = Validator {
        root: schema,
        problems: Vec::new(),
    };
    v.check(schema, value, "");
    v.problems
}

struct Validator<'a> {
    root: &'a Value,
    problems: Vec<Problem>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn has_type(v: &Value, ty: &str) -> bool {
    match ty {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn article(ty: &str) -> String {
    match ty {
        "null" => "null".into(),
        "integer" | "object" | "array" => format!("an {ty}"),
        _ => format!("a {ty}"),
    }
}

fn quoted_list(values: &[&Value]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'a> Validator<'a> {
    fn problem(&mut self, path: &str, message: String) {
        self.problems.push(Problem::new(path, message));
    }

    fn resolve(&self, schema: &'a Value) -> &'a Value {
        let mut s = schema;
        while let Some(r) = s.get("$ref").and_then(Value::as_str) {
            match r
                .strip_prefix('#')
                .and_then(|pointer| self.root.pointer(pointer))
            {
                Some(target) => s = target,
                None => break,
            }
        }
        s
    }

    fn check(&mut self, schema: &'a Value, value: &Value, path: &str) {
        let schema = self.resolve(schema);
        if let Some(branches) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        {
            self.check_union(branches, value, path);
            return;
        }
        if let Some(c) = schema.get("const") {
            if c != value {
                self.problem(path, format!("expected {c}"));
            }
            return;
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            if !options.contains(value) {
                let options: Vec<&Value> = options.iter().collect();
                self.problem(path, format!("expected one of {}", quoted_list(&options)));
            }
            return;
        }
        if let Some(ty) = schema.get("type") {
            let types: Vec<&str> = match ty {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
                let expected: Vec<String> = types.iter().map(|t| article(t)).collect();
                self.problem(
                    path,
                    format!("expected {}, found {}", expected.join(" or "), kind(value)),
                );
                return;
            }
        }
        match value {
            Value::Object(map) => self.check_object(schema, map, path),
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{path}[{i}]"));
                    }
                }
            }
            Value::String(s) => {
                let n = s.chars().count() as u64;
                if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                    && n < min
                {
                    let what = if min == 1 {
                        "must not be empty".to_string()
                    } else {
                        format!("must be at least {min} characters")
                    };
                    self.problem(path, what);
                }
                if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                    && n > max
                {
                    self.problem(path, format!("must be at most {max} characters"));
                }
            }
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(0.0);
                if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                    && x < min
                {
                    self.problem(path, format!("must be at least {min}"));
                }
                if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                    && x > max
                {
                    self.problem(path, format!("must be at most {max}"));
                }
            }
            _ => {}
        }
    }

    fn check_object(&mut self, schema: &'a Value, map: &Map<String, Value>, path: &str) {
        let props = schema.get("properties").and_then(Value::as_object);
        for (key, v) in map {
            let at = join(path, key);
            if let Some(s) = props.and_then(|p| p.get(key)) {
                self.check(s, v, &at);
            } else {
                match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        let known: Vec<&str> = props
                            .into_iter()
                            .flat_map(|p| p.keys())
                            .map(String::as_str)
                            .collect();
                        let message = match closest(key, &known) {
                            Some(k) => format!(
                                "unknown key: did you mean `{k}`? (expected one of: {})",
                                known.join(", ")
                            ),
                            None => {
                                format!("unknown key (expected one of: {})", known.join(", "))
                            }
                        };
                        self.problem(&at, message);
                    }
                    Some(s @ Value::Object(_)) => self.check(s, v, &at),
                    _ => {}
                }
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(key) {
                    self.problem(path, format!("missing required key `{key}`"));
                }
            }
        }
    }

    fn check_union(&mut self, branches: &'a [Value], value: &Value, path: &str) {
        let branches: Vec<&'a Value> = branches.iter().map(|b| self.resolve(b)).collect();

        // A choice of constants: a plain enum with documented variants.
        let consts: Vec<&Value> = branches.iter().filter_map(|b| b.get("const")).collect();
        if consts.len() == branches.len() {
            if !consts.contains(&value) {
                self.problem(path, format!("expected one of {}", quoted_list(&consts)));
            }
            return;
        }

        // An internally tagged union: every branch fixes one property to a constant.
        if let Some(tag) = tag_property(&branches) {
            let Some(map) = value.as_object() else {
                self.problem(path, format!("expected an object, found {}", kind(value)));
                return;
            };
            let tags: Vec<&Value> = branches
                .iter()
                .map(|b| &b["properties"][tag.as_str()]["const"])
                .collect();
            match map.get(&tag) {
                None => self.problem(path, format!("missing required key `{tag}`")),
                Some(t) => match tags.iter().position(|c| *c == t) {
                    Some(i) => self.check(branches[i], value, path),
                    None => self.problem(
                        &join(path, &tag),
                        format!("expected one of {}", quoted_list(&tags)),
                    ),
                },
            }
            return;
        }

        // An externally tagged union: each branch is an object with one required key.
        if let Some(keys) = single_keys(&branches)
            && let Some(map) = value.as_object()
        {
            match keys.iter().position(|k| map.contains_key(*k)) {
                Some(i) => self.check(branches[i], value, path),
                None => self.problem(
                    path,
                    format!(
                        "expected an object with one of the keys: {}",
                        keys.join(", ")
                    ),
                ),
            }
            return;
        }

        // Otherwise: the first branch that fits; if none, the errors of the only
        // branch of the value's kind, or a list of what would fit.
        let mut fitting_kind = Vec::new();
        for b in &branches {
            let found = validate_with_root(self.root, b, value);
            if found.is_empty() {
                return;
            }
            if accepts_kind(self.root, b, value) {
                fitting_kind.push(found);
            }
        }
        if fitting_kind.len() == 1 {
            let mut found = fitting_kind.pop().expect("one element");
            for p in &mut found {
                p.path = if p.path.is_empty() {
                    path.to_string()
                } else {
                    join(path, &p.path)
                };
            }
            self.problems.extend(found);
        } else {
            let kinds: Vec<String> = branches.iter().map(|b| describe(self.root, b)).collect();
            self.problem(
                path,
                format!("expected {}, found {}", kinds.join(" or "), kind(value)),
            );
        }
    }
}

fn validate_with_root(root: &Value, schema: &Value, value: &Value) -> Vec<Problem> {
    let mut v = Validator {
        root,
        problems: Vec::new(),
    };
    v.check(schema, value, "");
    v.problems
}

fn tag_property(branches: &[&Value]) -> Option<String> {
    let first = branches.first()?.get("properties")?.as_object()?;
    first
        .iter()
        .find(|(name, s)| {
            s.get("const").is_some()
                && branches
                    .iter()
                    .all(|b| b["properties"][name.as_str()].get("const").is_some())
        })
        .map(|(name, _)| name.clone())
}

fn single_keys<'a>(branches: &[&'a Value]) -> Option<Vec<&'a str>> {
    branches
        .iter()
        .map(|b| match b.get("required").and_then(Value::as_array) {
            Some(r) if r.len() == 1 && b.get("type") == Some(&Value::from("object")) => {
                r[0].as_str()
            }
            _ => None,
        })
        .collect()
}

fn accepts_kind(root: &Value, schema: &Value, value: &Value) -> bool {
    let v = Validator {
        root,
        problems: Vec::new(),
    };
    let s = v.resolve(schema);
    match s.get("type") {
        Some(Value::String(t)) => has_type(value, t),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .any(|t| has_type(value, t)),
        _ => match s
            .get("oneOf")
            .or_else(|| s.get("anyOf"))
            .and_then(Value::as_array)
        {
            Some(bs) => bs.iter().any(|b| accepts_kind(root, b, value)),
            None => true,
        },
    }
}

fn describe(root: &Value, schema: &Value) -> String {
    let v = Validator {
        root,
        problems: Vec::new(),
    };
    let s = v.resolve(schema);
    if let Some(keys) = s
        .get("oneOf")
        .and_then(Value::as_array)
        .and_then(|bs| single_keys(&bs.iter().map(|b| v.resolve(b)).collect::<Vec<_>>()))
    {
        return format!("an object with one of the keys {}", keys.join(", "));
    }
    match s.get("type") {
        Some(Value::String(t)) => article(t),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(article)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "another value".into(),
    }
}

/// The known key nearest to a mistyped `key`: within an edit distance of
/// 1 for short keys, 2 for keys of 5 characters or more, 3 from 9 on
/// (case differences cost nothing).
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let key_lower = key.to_lowercase();
    let allowed = match key.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    known
        .iter()
        .map(|k| (edit_distance(&key_lower, &k.to_lowercase()), *k))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, with a swap of two neighbours counting as one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema;
    use serde_json::json;

    fn check(value: Value) -> Vec<String> {
        validate(schema(), &value)
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn a_near_miss_key_is_named_and_dollar_schema_is_a_key() {
        let problems = check(json!({"$schema": "./apiconn.schema.json",
            "source": {"name": "a", "url": "http://x"},
            "read": {"record": "data", "paginat": {"type": "page", "param": "p"}, "zzz": 1}}));
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "read.record: unknown key: did you mean `records`? (expected one of: method,"
            ),
            "{problems:?}"
        );
        assert!(problems[1].starts_with("read.paginat: unknown key: did you mean `paginate`?"));
        assert!(problems[2].starts_with("read.zzz: unknown key (expected one of:"));
        assert_eq!(closest("Records", &["records", "read"]), Some("records"));
        assert_eq!(closest("methdo", &["method"]), Some("method"));
        assert_eq!(closest("url", &["read"]), None);
    }

    #[test]
    fn request_values_are_scalars_or_generated() {
        let base = |v: Value| json!({"source": {"name": "a", "url": "http://x"}, "read": {"params": {"p": v}}});
        assert!(check(base(json!(1))).is_empty());
        assert!(check(base(json!({"timestamp": "ms"}))).is_empty());
        assert_eq!(
            check(base(json!({"timestamp": 1}))),
            ["read.params.p.timestamp: expected a string, found an integer"]
        );
        assert_eq!(
            check(base(json!({"clock": "ms"}))),
            ["read.params.p: expected an object with one of the keys: timestamp, random"]
        );
        assert_eq!(
            check(base(json!([1]))),
            [
                "read.params.p: expected an object with one of the keys timestamp, random or a string or a number or a boolean or null, found an array"
            ]
        );
    }

    #[test]
    fn types_and_arrays_are_checked_at_their_path() {
        assert_eq!(
            check(
                json!({"source": {"name": 5, "url": "http://x", "tags": ["a", 3]}, "read": {"fields": [{"name": "a", "type": "int"}]}})
            ),
            [
                "source.name: expected a string, found an integer",
                "source.tags[1]: expected a string, found an integer",
                "read.fields[0].type: expected one of \"string\", \"long\", \"double\", \"boolean\", \"date\", \"json\""
            ]
        );
        assert_eq!(check(json!([])), ["expected an object, found an array"]);
    }
}
