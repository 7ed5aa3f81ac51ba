//! Stop conditions (README "Pagination"): `LEFT OP RIGHT`, evaluated
//! after a page's records are emitted.
//!
//! Operands: `response.<json path>`, `request.<param name>`,
//! `header:<name>`, `requests`, `records`, or a JSON literal, and sums,
//! differences, products and quotients of them (`request.offset +
//! request.limit`: the arithmetic operator between spaces; `*` and `/` bind
//! tighter). Both sides numbers (or numeric strings): compared as numbers;
//! otherwise as strings. A missing response path or header is `null`, and
//! so is arithmetic over anything but numbers.

use crate::jsonpath::{self, Path};
use serde_json::Value;
use std::borrow::Cow;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Response(Path),
    Request(String),
    /// A response header, by name.
    Header(String),
    Requests,
    Records,
    Literal(Value),
    Arith(Box<Operand>, Arith, Box<Operand>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub left: Operand,
    pub op: Op,
    pub right: Operand,
}

/// What a condition can look at after one page.
pub struct Facts<'a> {
    pub response: &'a Value,
    /// The response's headers.
    pub headers: &'a [(String, String)],
    /// The request values just sent (query parameters and top-level body keys).
    pub request: &'a dyn Fn(&str) -> Option<Value>,
    pub requests: u64,
    pub records: u64,
}

const OPS: [(&str, Op); 6] = [
    ("==", Op::Eq),
    ("!=", Op::Ne),
    (">=", Op::Ge),
    ("<=", Op::Le),
    (">", Op::Gt),
    ("<", Op::Lt),
];

impl Condition {
    /// Parses `LEFT OP RIGHT`; the error names the column (1-based) of the problem.
    pub fn parse(text: &str) -> Result<Condition, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut in_string = false;
        let mut escaped = false;
        let mut found = None;
        for (i, c) in chars.iter().enumerate() {
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            if *c == '"' {
                in_string = true;
                continue;
            }
            let rest: String = chars[i..].iter().take(2).collect();
            if let Some((sym, op)) = OPS.iter().find(|(sym, _)| rest.starts_with(sym)) {
                found = Some((i, sym.chars().count(), *op));
                break;
            }
        }
        let Some((at, len, op)) = found else {
            return Err(format!(
                "`{text}` has no operator: write LEFT OP RIGHT with OP one of == != > >= < <="
            ));
        };
        let left_text: String = chars[..at].iter().collect();
        let right_text: String = chars[at + len..].iter().collect();
        let left = parse_expr(&left_text, 1, text)?;
        let right = parse_expr(&right_text, at + len + 1, text)?;
        Ok(Condition { left, op, right })
    }

    pub fn holds(&self, facts: &Facts) -> bool {
        let l = value(&self.left, facts);
        let r = value(&self.right, facts);
        let ord = match (number(&l), number(&r)) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => Some(text(&l).cmp(&text(&r))),
        };
        match (self.op, ord) {
            (Op::Eq, Some(o)) => o == Ordering::Equal,
            (Op::Ne, Some(o)) => o != Ordering::Equal,
            (Op::Gt, Some(o)) => o == Ordering::Greater,
            (Op::Ge, Some(o)) => o != Ordering::Less,
            (Op::Lt, Some(o)) => o == Ordering::Less,
            (Op::Le, Some(o)) => o != Ordering::Greater,
            (_, None) => false,
        }
    }
}

/// Where `raw` splits at an arithmetic operator: a `+ - * /` outside a
/// string with whitespace on both sides. (char index, operator)
fn arith_ops(raw: &str) -> Vec<(usize, Arith)> {
    let chars: Vec<char> = raw.chars().collect();
    let mut found = vec![];
    let (mut in_string, mut escaped) = (false, false);
    for (i, c) in chars.iter().enumerate() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        let op = match c {
            '"' => {
                in_string = true;
                continue;
            }
            '+' => Arith::Add,
            '-' => Arith::Sub,
            '*' => Arith::Mul,
            '/' => Arith::Div,
            _ => continue,
        };
        let spaced = |j: Option<&char>| j.is_some_and(|c| c.is_whitespace());
        if i > 0 && spaced(chars.get(i - 1)) && spaced(chars.get(i + 1)) {
            found.push((i, op));
        }
    }
    found
}

/// An operand, or arithmetic over operands: `*` and `/` before `+` and
/// `-`, each left to right.
fn parse_expr(raw: &str, column: usize, whole: &str) -> Result<Operand, String> {
    let ops = arith_ops(raw);
    if ops.is_empty() {
        return parse_operand(raw, column, whole);
    }
    let chars: Vec<char> = raw.chars().collect();
    let piece = |from: usize, to: usize| -> String { chars[from..to].iter().collect() };
    // The weakest operator last in the text splits first (left-associative).
    let split = ops
        .iter()
        .rev()
        .find(|(_, op)| matches!(op, Arith::Add | Arith::Sub))
        .or_else(|| ops.last())
        .copied()
        .expect("ops is not empty");
    let (at, op) = split;
    let left = parse_expr(&piece(0, at), column, whole)?;
    let right = parse_expr(&piece(at + 1, chars.len()), column + at + 1, whole)?;
    Ok(Operand::Arith(Box::new(left), op, Box::new(right)))
}

fn parse_operand(raw: &str, column: usize, whole: &str) -> Result<Operand, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(format!("`{whole}` at column {column}: missing operand"));
    }
    let lead = raw.len() - raw.trim_start().len();
    let column = column + raw[..lead].chars().count();
    let err = |what: String| Err(format!("`{whole}` at column {column}: {what}"));
    if t == "requests" {
        return Ok(Operand::Requests);
    }
    if t == "records" {
        return Ok(Operand::Records);
    }
    if let Some(path) = t
        .strip_prefix("response.")
        .or((t == "response").then_some(""))
    {
        return match jsonpath::parse(path) {
            Ok(p) => Ok(Operand::Response(p)),
            Err(e) => err(e),
        };
    }
    if let Some(name) = t.strip_prefix("header:") {
        if name.is_empty() || !name.bytes().all(crate::config::is_token_byte) {
            return err("`header:` needs a header name (`header:X-Total-Count`)".into());
        }
        return Ok(Operand::Header(name.to_string()));
    }
    if let Some(name) = t.strip_prefix("request.") {
        if name.is_empty() {
            return err("`request.` needs a parameter name".into());
        }
        return Ok(Operand::Request(name.to_string()));
    }
    match serde_json::from_str::<Value>(t) {
        Ok(v) if !v.is_array() && !v.is_object() => Ok(Operand::Literal(v)),
        _ => err(format!(
            "`{t}` is not response.<path>, request.<param>, header:<name>, requests, records or a JSON literal (strings in double quotes)"
        )),
    }
}

fn value(o: &Operand, f: &Facts) -> Value {
    match o {
        Operand::Response(p) => jsonpath::get(f.response, p).map_or(Value::Null, Cow::into_owned),
        Operand::Request(name) => (f.request)(name).unwrap_or(Value::Null),
        Operand::Header(name) => f
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(Value::Null, |(_, v)| Value::String(v.clone())),
        Operand::Arith(l, op, r) => {
            let (Some(a), Some(b)) = (number(&value(l, f)), number(&value(r, f))) else {
                return Value::Null;
            };
            let n = match op {
                Arith::Add => a + b,
                Arith::Sub => a - b,
                Arith::Mul => a * b,
                Arith::Div if b == 0.0 => return Value::Null,
                Arith::Div => a / b,
            };
            if n.fract() == 0.0 && n.abs() < 9e15 {
                Value::from(n as i64)
            } else {
                Value::from(n)
            }
        }
        Operand::Requests => Value::from(f.requests),
        Operand::Records => Value::from(f.records),
        Operand::Literal(v) => v.clone(),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if !s.trim().is_empty() => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(cond: &str, response: Value, requests: u64, records: u64) -> bool {
        let sent = |name: &str| match name {
            "page" => Some(json!(3)),
            "cursor" => Some(json!("abc")),
            _ => None,
        };
        let headers = vec![("X-Total-Count".to_string(), "42".to_string())];
        let facts = Facts {
            response: &response,
            headers: &headers,
            request: &sent,
            requests,
            records,
        };
        Condition::parse(cond).unwrap().holds(&facts)
    }

    #[test]
    fn the_examples_of_the_spec() {
        assert!(holds(
            "response.has_more == false",
            json!({"has_more": false}),
            1,
            10
        ));
        assert!(!holds(
            "response.has_more == false",
            json!({"has_more": true}),
            1,
            10
        ));
        assert!(holds(
            "response.current_page >= 10",
            json!({"current_page": 10}),
            1,
            1
        ));
        assert!(holds(
            "response.current_page >= 10",
            json!({"current_page": "12"}),
            1,
            1
        ));
        assert!(holds("requests >= 3", json!({}), 3, 1));
        assert!(!holds("requests >= 3", json!({}), 2, 1));
        assert!(holds(
            "request.page >= response.pages",
            json!({"pages": 3}),
            1,
            1
        ));
        assert!(!holds(
            "request.page >= response.pages",
            json!({"pages": 4}),
            1,
            1
        ));
        assert!(holds(
            r#"response.data.next_cursor == """#,
            json!({"data": {"next_cursor": ""}}),
            1,
            1
        ));
        assert!(holds("records < 100", json!({}), 1, 42));
        assert!(holds("response.missing == null", json!({}), 1, 1));
        assert!(holds(
            r#"response.status != "done""#,
            json!({"status": "running"}),
            1,
            1
        ));
        assert!(holds(r#"request.cursor == "abc""#, json!({}), 1, 1));
        // Numbers compare as numbers, not as text.
        assert!(holds("response.n > 9", json!({"n": 10}), 1, 1));
        assert!(holds(r#"response.s < "b""#, json!({"s": "a"}), 1, 1));
    }

    #[test]
    fn arithmetic_and_headers() {
        // request.page is 3.
        assert!(holds(
            "request.page * 10 >= response.count",
            json!({"count": 30}),
            1,
            1
        ));
        assert!(!holds(
            "request.page * 10 >= response.count",
            json!({"count": 31}),
            1,
            1
        ));
        assert!(holds("request.page + 1 + 1 == 5", json!({}), 1, 1));
        assert!(holds("request.page - 1 - 1 == 1", json!({}), 1, 1));
        assert!(holds("1 + request.page * 2 == 7", json!({}), 1, 1));
        assert!(holds("request.page / 2 == 1.5", json!({}), 1, 1));
        assert!(holds(
            "records + response.seen >= header:X-Total-Count",
            json!({"seen": 32}),
            1,
            10
        ));
        assert!(holds("header:x-total-count == 42", json!({}), 1, 1));
        assert!(holds("header:X-Missing == null", json!({}), 1, 1));
        // Not numbers, or a division by zero: null.
        assert!(holds("response.x + 1 == null", json!({"x": "a"}), 1, 1));
        assert!(holds("request.page / 0 == null", json!({}), 1, 1));
        // Without spaces, `-` belongs to the operand.
        assert_eq!(
            Condition::parse("response.next-page == -1").unwrap().left,
            Operand::Response(jsonpath::parse("next-page").unwrap())
        );
        assert!(
            Condition::parse("request.offset + == 1")
                .unwrap_err()
                .contains("missing operand")
        );
    }

    #[test]
    fn operators_inside_strings_are_not_operators() {
        let c = Condition::parse(r#"response.x == "a==b""#).unwrap();
        assert_eq!(c.right, Operand::Literal(json!("a==b")));
    }

    #[test]
    fn errors_name_the_column() {
        assert_eq!(
            Condition::parse("response.x").unwrap_err(),
            "`response.x` has no operator: write LEFT OP RIGHT with OP one of == != > >= < <="
        );
        assert_eq!(
            Condition::parse("response.x == done").unwrap_err(),
            "`response.x == done` at column 15: `done` is not response.<path>, request.<param>, header:<name>, requests, records or a JSON literal (strings in double quotes)"
        );
        assert!(
            Condition::parse(" == 3")
                .unwrap_err()
                .contains("at column 1: missing operand")
        );
        assert!(
            Condition::parse("response.a..b == 1")
                .unwrap_err()
                .contains("at column 1:")
        );
    }
}
