//! The small JSON path language of configs: `data.result`, `$.data.items[0]`,
//! `data['odd.key']`, `data[-1].id` (counted from the end), `results[*].name`
//! (every item: the matches, in order, as one array). Empty (or `$`) is the
//! whole document.

use serde_json::Value;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
    /// `[-n]`: the n-th item from the end (`[-1]` is the last).
    FromEnd(usize),
    /// `[*]` or `.*`: every item of an array (every value of an object).
    All,
}

pub type Path = Vec<Segment>;

pub fn parse(text: &str) -> Result<Path, String> {
    let body = text.trim();
    let body = body.strip_prefix('$').unwrap_or(body);
    let mut segments = Vec::new();
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    let err = |at: usize, what: &str| {
        Err(format!(
            "bad JSON path `{text}` at character {}: {what}",
            at + 1
        ))
    };
    while i < chars.len() {
        match chars[i] {
            '.' => {
                if i == 0 && text.trim().starts_with('$') {
                    i += 1;
                    continue;
                }
                if i == 0 || i + 1 == chars.len() || chars[i + 1] == '.' {
                    return err(i, "empty key");
                }
                i += 1;
            }
            '[' => {
                let Some(end) = chars[i..].iter().position(|c| *c == ']').map(|p| p + i) else {
                    return err(i, "`[` without `]`");
                };
                let inner: String = chars[i + 1..end].iter().collect();
                let inner = inner.trim();
                if let Some(quoted) = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                {
                    segments.push(Segment::Key(quoted.to_string()));
                } else if inner == "*" {
                    segments.push(Segment::All);
                } else if let Ok(n) = inner.parse::<usize>() {
                    segments.push(Segment::Index(n));
                } else if let Some(n) = inner
                    .strip_prefix('-')
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n > 0)
                {
                    segments.push(Segment::FromEnd(n));
                } else {
                    return err(
                        i,
                        "expected an index (`[0]`, `[-1]`), `[*]` or a quoted key inside `[]`",
                    );
                }
                i = end + 1;
            }
            _ => {
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let key: String = chars[start..i].iter().collect();
                segments.push(if key == "*" {
                    Segment::All
                } else {
                    Segment::Key(key)
                });
            }
        }
    }
    Ok(segments)
}

/// Only keys and plain indexes: one place in a document, found without
/// knowing how long its arrays are.
pub fn is_plain(path: &[Segment]) -> bool {
    path.iter()
        .all(|s| matches!(s, Segment::Key(_) | Segment::Index(_)))
}

/// The value at `path`. With a wildcard, the matches of the rest of the
/// path under every item, in order, as one array (items where it is
/// missing are left out).
pub fn get<'v>(value: &'v Value, path: &[Segment]) -> Option<Cow<'v, Value>> {
    let mut v = value;
    for (i, seg) in path.iter().enumerate() {
        v = match seg {
            Segment::Key(k) => v.get(k.as_str())?,
            Segment::Index(n) => v.get(*n)?,
            Segment::FromEnd(n) => {
                let items = v.as_array()?;
                items.get(items.len().checked_sub(*n)?)?
            }
            Segment::All => {
                let rest = &path[i + 1..];
                let items: Box<dyn Iterator<Item = &Value>> = match v {
                    Value::Array(a) => Box::new(a.iter()),
                    Value::Object(o) => Box::new(o.values()),
                    _ => return None,
                };
                return Some(Cow::Owned(Value::Array(
                    items
                        .filter_map(|item| get(item, rest).map(Cow::into_owned))
                        .collect(),
                )));
            }
        };
    }
    Some(Cow::Borrowed(v))
}

/// Why `path` finds nothing in `value`, when the reason is a key that is
/// not there (a likely misspelling) rather than an array too short or a
/// `null` on the way (the data's own end): the keys found where the key
/// was looked for (empty when the value there is not an object).
pub fn missing_key(value: &Value, path: &[Segment]) -> Option<Vec<String>> {
    let mut v = value;
    for seg in path {
        if v.is_null() {
            return None;
        }
        v = match seg {
            Segment::Key(k) => match v {
                Value::Object(o) => match o.get(k) {
                    Some(next) => next,
                    None => return Some(o.keys().cloned().collect()),
                },
                _ => return Some(vec![]),
            },
            Segment::Index(n) => v.get(*n)?,
            Segment::FromEnd(n) => {
                let items = v.as_array()?;
                items.get(items.len().checked_sub(*n)?)?
            }
            Segment::All => return None,
        };
    }
    None
}

/// Places `leaf` at `path` inside `target`, creating objects on the way.
/// `[-n]` is the n-th existing item from the end (a new first item when the
/// array is shorter); `[*]` sets every existing item.
pub fn put(target: &mut Value, path: &[Segment], leaf: Value) {
    let Some((last, parents)) = path.split_last() else {
        *target = leaf;
        return;
    };
    if let Some(i) = path.iter().position(|s| *s == Segment::All) {
        let mut at = target;
        for seg in &path[..i] {
            at = child(at, seg);
        }
        let rest = &path[i + 1..];
        match at {
            Value::Array(items) => items.iter_mut().for_each(|v| put(v, rest, leaf.clone())),
            Value::Object(o) => o.values_mut().for_each(|v| put(v, rest, leaf.clone())),
            _ => {}
        }
        return;
    }
    let mut at = target;
    for seg in parents {
        at = child(at, seg);
    }
    *child(at, last) = leaf;
}

fn child<'v>(v: &'v mut Value, seg: &Segment) -> &'v mut Value {
    match seg {
        Segment::Key(k) => {
            if !v.is_object() {
                *v = Value::Object(Default::default());
            }
            v.as_object_mut()
                .expect("made an object above")
                .entry(k.clone())
                .or_insert(Value::Null)
        }
        Segment::Index(i) => {
            if !v.is_array() {
                *v = Value::Array(Vec::new());
            }
            let a = v.as_array_mut().expect("made an array above");
            if a.len() <= *i {
                a.resize(*i + 1, Value::Null);
            }
            &mut a[*i]
        }
        Segment::FromEnd(n) => {
            if !v.is_array() {
                *v = Value::Array(Vec::new());
            }
            let a = v.as_array_mut().expect("made an array above");
            if a.len() < *n {
                a.insert(0, Value::Null);
                return &mut a[0];
            }
            let at = a.len() - n;
            &mut a[at]
        }
        Segment::All => unreachable!("put handles wildcards"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> Segment {
        Segment::Key(k.into())
    }

    #[test]
    fn parses_the_spellings_of_configs() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(parse("$").unwrap(), vec![]);
        assert_eq!(
            parse("data.result").unwrap(),
            vec![key("data"), key("result")]
        );
        assert_eq!(
            parse("$.data.result").unwrap(),
            vec![key("data"), key("result")]
        );
        assert_eq!(
            parse("$.data.items[2].x").unwrap(),
            vec![key("data"), key("items"), Segment::Index(2), key("x")]
        );
        assert_eq!(parse("a['b.c']").unwrap(), vec![key("a"), key("b.c")]);
        assert_eq!(parse("[0]").unwrap(), vec![Segment::Index(0)]);
        assert!(
            parse("a..b")
                .unwrap_err()
                .contains("character 2: empty key")
        );
        assert!(parse("a[x]").is_err());
        assert_eq!(
            parse("data[-1].id").unwrap(),
            vec![key("data"), Segment::FromEnd(1), key("id")]
        );
        assert_eq!(
            parse("results[*].name").unwrap(),
            vec![key("results"), Segment::All, key("name")]
        );
        assert_eq!(
            parse("a.*.b").unwrap(),
            vec![key("a"), Segment::All, key("b")]
        );
        assert_eq!(parse("a['*']").unwrap(), vec![key("a"), key("*")]);
        assert!(parse("a[-x]").is_err());
        assert!(parse("a[-0]").is_err());
        assert!(parse("a[1").is_err());
        assert!(parse("a.").is_err());
    }

    #[test]
    fn gets_and_puts() {
        let doc = json!({"data": {"items": [{"x": 1}, {"x": 2}]}});
        let at = |p: &str| get(&doc, &parse(p).unwrap()).map(Cow::into_owned);
        assert_eq!(at("data.items[1].x"), Some(json!(2)));
        assert_eq!(at("data.missing"), None);
        assert_eq!(at(""), Some(doc.clone()));
        let mut v = Value::Null;
        put(&mut v, &parse("data.items").unwrap(), json!([1]));
        assert_eq!(v, json!({"data": {"items": [1]}}));
    }

    #[test]
    fn negative_indexes_and_wildcards() {
        let doc = json!({"data": [{"id": "a", "sort": [1, "x"]}, {"id": "b", "sort": [2, "y"]}],
                         "results": [{"name": "n1"}, {"other": 1}, {"name": "n3"}],
                         "map": {"k1": {"v": 1}, "k2": {"v": 2}}, "empty": []});
        let at = |p: &str| get(&doc, &parse(p).unwrap()).map(Cow::into_owned);
        assert_eq!(at("data[-1].id"), Some(json!("b")));
        assert_eq!(at("data[-2].id"), Some(json!("a")));
        assert_eq!(at("data[-3].id"), None);
        assert_eq!(at("data[-1].sort"), Some(json!([2, "y"])));
        assert_eq!(at("empty[-1].id"), None);
        assert_eq!(at("results[*].name"), Some(json!(["n1", "n3"])));
        assert_eq!(at("map.*.v"), Some(json!([1, 2])));
        assert_eq!(at("data[*]"), Some(doc["data"].clone()));
        assert_eq!(at("data[0].id[*]"), None);
        assert!(is_plain(&parse("a[0].b").unwrap()));
        assert!(!is_plain(&parse("a[-1]").unwrap()));
        // A key that is not there is told apart from the data's own end.
        let missing = |p: &str| missing_key(&doc, &parse(p).unwrap());
        assert_eq!(
            missing("data[-1].idd"),
            Some(vec!["id".into(), "sort".into()])
        );
        assert_eq!(
            missing("nope"),
            Some(vec![
                "data".into(),
                "results".into(),
                "map".into(),
                "empty".into()
            ])
        );
        assert_eq!(missing("empty[-1].id"), None);
        assert_eq!(missing("data[-1].id"), None);
        assert_eq!(missing("data[-1].id.x"), Some(vec![]));
        let mut v = json!({"sort": [1, 2]});
        put(&mut v, &parse("sort[-1]").unwrap(), json!(9));
        assert_eq!(v, json!({"sort": [1, 9]}));
        put(&mut v, &parse("sort[*]").unwrap(), json!(0));
        assert_eq!(v, json!({"sort": [0, 0]}));
    }
}
