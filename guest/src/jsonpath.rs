//! The small JSON path language of configs: `data.result`, `$.data.items[0]`,
//! `data['odd.key']`. Empty (or `$`) is the whole document.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
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
                } else if let Ok(n) = inner.parse::<usize>() {
                    segments.push(Segment::Index(n));
                } else {
                    return err(i, "expected an index or a quoted key inside `[]`");
                }
                i = end + 1;
            }
            _ => {
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                segments.push(Segment::Key(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(segments)
}

pub fn get<'v>(value: &'v Value, path: &[Segment]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, seg| match seg {
        Segment::Key(k) => v.get(k.as_str()),
        Segment::Index(i) => v.get(*i),
    })
}

/// Places `leaf` at `path` inside `target`, creating objects on the way.
pub fn put(target: &mut Value, path: &[Segment], leaf: Value) {
    let Some((last, parents)) = path.split_last() else {
        *target = leaf;
        return;
    };
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
        assert!(parse("a[1").is_err());
        assert!(parse("a.").is_err());
    }

    #[test]
    fn gets_and_puts() {
        let doc = json!({"data": {"items": [{"x": 1}, {"x": 2}]}});
        assert_eq!(
            get(&doc, &parse("data.items[1].x").unwrap()),
            Some(&json!(2))
        );
        assert_eq!(get(&doc, &parse("data.missing").unwrap()), None);
        assert_eq!(get(&doc, &[]), Some(&doc));
        let mut v = Value::Null;
        put(&mut v, &parse("data.items").unwrap(), json!([1]));
        assert_eq!(v, json!({"data": {"items": [1]}}));
    }
}
