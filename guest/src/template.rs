//! Path templates of writes (`write.path: /contacts/{id}/`): parsed once,
//! filled from each record with its values percent-encoded.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(String),
}

/// A parsed path template; a path without `{…}` is one text part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// `{name}` is the record's field `name` (a flat key, any characters
    /// but braces); `{{` and `}}` are literal braces.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') | None => {
                                return Err(format!(
                                    "`{text}`: `{{` opens a field that is not closed by `}}` (write `{{{{` for a literal brace)"
                                ));
                            }
                            Some(c) => name.push(c),
                        }
                    }
                    if name.is_empty() {
                        return Err(format!("`{text}`: `{{}}` names no field"));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(name));
                }
                '}' => {
                    return Err(format!(
                        "`{text}`: `}}` closes no field (write `}}}}` for a literal brace)"
                    ));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template {
            source: text.to_string(),
            parts,
        })
    }

    /// Whether any part comes from the record.
    pub fn has_fields(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Field(_)))
    }

    /// The fields the template reads, in order.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f.as_str()),
            Part::Text(_) => None,
        })
    }

    /// The path for `record`: each field's value percent-encoded as one
    /// path segment (strings as they are, numbers and booleans as JSON).
    /// A missing, null or empty value, or `.`/`..` (which would move the
    /// path), is an error naming the field.
    pub fn fill(&self, record: &Map<String, Value>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(name) => {
                    let text = match record.get(name) {
                        None => {
                            return Err(format!(
                                "field `{name}` of the path `{}` (write.path) is missing",
                                self.source
                            ));
                        }
                        Some(Value::Null) => {
                            return Err(format!(
                                "field `{name}` of the path `{}` (write.path) is null",
                                self.source
                            ));
                        }
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Number(n)) => n.to_string(),
                        Some(Value::Bool(b)) => b.to_string(),
                        Some(_) => {
                            return Err(format!(
                                "field `{name}` of the path `{}` (write.path) is not a string, number or boolean",
                                self.source
                            ));
                        }
                    };
                    if text.is_empty() || text == "." || text == ".." {
                        return Err(format!(
                            "field `{name}` of the path `{}` (write.path) is `{text}`, which cannot be a path segment",
                            self.source
                        ));
                    }
                    out.push_str(&encode_segment(&text));
                }
            }
        }
        Ok(out)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a
/// value is one path segment whatever it holds (`/`, `?`, `#`, `%`, spaces).
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn fields_are_filled_and_percent_encoded() {
        let t = Template::parse("/contacts/{id}/notes/{note key}/").unwrap();
        assert!(t.has_fields());
        assert_eq!(t.fields().collect::<Vec<_>>(), ["id", "note key"]);
        assert_eq!(
            t.fill(&record(json!({"id": 42, "note key": "a/b?c#d e%é"})))
                .unwrap(),
            "/contacts/42/notes/a%2Fb%3Fc%23d%20e%25%C3%A9/"
        );
        assert_eq!(
            t.fill(&record(json!({"id": true, "note key": "x.y-z_~"})))
                .unwrap(),
            "/contacts/true/notes/x.y-z_~/"
        );
        let plain = Template::parse("/items").unwrap();
        assert!(!plain.has_fields());
        assert_eq!(plain.fill(&Map::new()).unwrap(), "/items");
        assert_eq!(
            Template::parse("/a/{{literal}}/{x}")
                .unwrap()
                .fill(&record(json!({"x": "1"})))
                .unwrap(),
            "/a/{literal}/1"
        );
    }

    #[test]
    fn a_missing_or_unusable_value_is_an_error_naming_the_field() {
        let t = Template::parse("/contacts/{id}/").unwrap();
        for (r, why) in [
            (json!({}), "is missing"),
            (json!({"id": null}), "is null"),
            (json!({"id": ""}), "is ``, which cannot be a path segment"),
            (
                json!({"id": ".."}),
                "is `..`, which cannot be a path segment",
            ),
            (json!({"id": "."}), "is `.`, which cannot be a path segment"),
        ] {
            let e = t.fill(&record(r)).unwrap_err();
            assert_eq!(
                e,
                format!("field `id` of the path `/contacts/{{id}}/` (write.path) {why}")
            );
        }
    }

    #[test]
    fn unbalanced_braces_do_not_parse() {
        assert!(
            Template::parse("/a/{id")
                .unwrap_err()
                .contains("not closed")
        );
        assert!(
            Template::parse("/a/id}")
                .unwrap_err()
                .contains("closes no field")
        );
        assert!(
            Template::parse("/a/{}")
                .unwrap_err()
                .contains("names no field")
        );
        assert!(Template::parse("/a/{x{y}").is_err());
    }
}
