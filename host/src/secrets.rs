//! Secret references in configs: `${env:NAME}` and `${file:NAME}`, resolved
//! by the host before the component sees the config, and only where the
//! operator allowed them (`--allow-env`, `--allow-env-prefix`,
//! `--secrets-dir`). The values are remembered so every message that
//! leaves the host can be masked.

use serde_json::Value;
use std::path::PathBuf;

/// What a config may reach.
#[derive(Debug, Clone, Default)]
pub struct SecretPolicy {
    /// Names given with `--allow-env`.
    pub allow_env: Vec<String>,
    /// Prefixes given with `--allow-env-prefix`: names starting with one
    /// are allowed. None by default (README, "Upgrading").
    pub allow_env_prefixes: Vec<String>,
    /// `--secrets-dir`: `${file:NAME}` reads only files directly inside it.
    pub secrets_dir: Option<PathBuf>,
    /// Check references without reading them ([`check_references`]).
    pub check_only: bool,
}

/// Replaces secret values with `***`, in every encoding, in text meant
/// for people.
pub use apiconn_text::Masker;

/// Resolves every reference in the string values of `config`; each error
/// names the reference and where it is.
pub fn resolve(
    config: &mut Value,
    policy: &SecretPolicy,
    masker: &mut Masker,
) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    walk(config, "", policy, masker, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// What `apiconn validate` does instead of [`resolve`] (README,
/// "Validating in CI"): every reference is checked for its form and for the
/// operator's permission (`--allow-env`, `--allow-env-prefix`,
/// `--secrets-dir`) but not read, and stands in the config as
/// [`UNRESOLVED`], so a config is linted where its secrets are absent.
pub fn check_references(config: &mut Value, policy: &SecretPolicy) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let mut masker = Masker::new();
    let checking = SecretPolicy {
        check_only: true,
        ..policy.clone()
    };
    walk(config, "", &checking, &mut masker, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// What a reference stands as when [`check_references`] does not read it.
pub const UNRESOLVED: &str = "unresolved-secret";

fn walk(
    v: &mut Value,
    path: &str,
    policy: &SecretPolicy,
    masker: &mut Masker,
    errors: &mut Vec<String>,
) {
    match v {
        Value::String(s) if s.contains("${") => match substitute(s, policy, masker) {
            Ok(resolved) => *s = resolved,
            Err(e) => errors.push(if path.is_empty() {
                e
            } else {
                format!("{path}: {e}")
            }),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &format!("{path}[{i}]"), policy, masker, errors);
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(item, &p, policy, masker, errors);
            }
        }
        _ => {}
    }
}

fn substitute(s: &str, policy: &SecretPolicy, masker: &mut Masker) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("`{}` has no closing `}}`", &rest[start..]));
        };
        let reference = &after[..end];
        let value = lookup(reference, policy)?;
        masker.add(&value);
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The path of file `name` inside --secrets-dir, if the policy allows it:
/// a plain file name, no `/`, no `..`.
pub fn secret_file(name: &str, policy: &SecretPolicy) -> Result<std::path::PathBuf, String> {
    let Some(dir) = &policy.secrets_dir else {
        return Err(format!(
            "`{name}` is read from --secrets-dir DIR, and none was given"
        ));
    };
    if name.is_empty() || name.contains('/') || name.contains('\\') || name == "." || name == ".." {
        return Err(format!(
            "`{name}` must be a plain file name inside --secrets-dir (no `/`, no `..`)"
        ));
    }
    Ok(dir.join(name))
}

fn lookup(reference: &str, policy: &SecretPolicy) -> Result<String, String> {
    let shown = format!("${{{reference}}}");
    if let Some(name) = reference.strip_prefix("env:") {
        let allowed = policy.allow_env.iter().any(|n| n == name)
            || policy
                .allow_env_prefixes
                .iter()
                .any(|p| !p.is_empty() && name.starts_with(p.as_str()));
        if !allowed {
            return Err(format!(
                "{shown}: environment variable `{name}` is not allowed (pass --allow-env {name}, or --allow-env-prefix with a prefix of it)"
            ));
        }
        if policy.check_only {
            return Ok(UNRESOLVED.to_string());
        }
        return std::env::var(name)
            .map_err(|_| format!("{shown}: environment variable `{name}` is not set"));
    }
    if let Some(name) = reference.strip_prefix("file:") {
        let path = secret_file(name, policy).map_err(|e| format!("{shown}: {e}"))?;
        if policy.check_only {
            return Ok(UNRESOLVED.to_string());
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{shown}: cannot read {}: {e}", path.display()))?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        return Ok(text.strip_suffix('\r').unwrap_or(text).to_string());
    }
    Err(format!(
        "{shown}: unknown reference (use ${{env:NAME}} or ${{file:NAME}})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_checked_without_being_read() {
        let policy = SecretPolicy {
            allow_env: vec!["APICONN_TEST_NEVER_SET".into()],
            ..SecretPolicy::default()
        };
        let mut config = json!({"a": "Bearer ${env:APICONN_TEST_NEVER_SET}"});
        check_references(&mut config, &policy).unwrap();
        assert_eq!(config, json!({"a": "Bearer unresolved-secret"}));
        let mut config = json!({"a": {"b": "${env:OTHER}"}, "c": "${file:x}", "d": "${nope}"});
        assert_eq!(
            check_references(&mut config, &policy).unwrap_err(),
            [
                "a.b: ${env:OTHER}: environment variable `OTHER` is not allowed (pass --allow-env OTHER, or --allow-env-prefix with a prefix of it)",
                "c: ${file:x}: `x` is read from --secrets-dir DIR, and none was given",
                "d: ${nope}: unknown reference (use ${env:NAME} or ${file:NAME})",
            ]
        );
    }

    #[test]
    fn env_and_file_references_resolve_only_where_allowed() {
        // SAFETY: tests in this module are the only ones touching these names.
        unsafe {
            std::env::set_var("APICONN_SECRET_T1", "tok en");
            std::env::set_var("PLAIN_T1", "p");
        }
        let dir = std::env::temp_dir().join(format!("apiconn-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pw"), "hunter2\n").unwrap();
        let policy = SecretPolicy {
            allow_env: vec!["PLAIN_T1".into()],
            allow_env_prefixes: vec!["APICONN_SECRET_".into()],
            secrets_dir: Some(dir.clone()),
            check_only: false,
        };
        let mut masker = Masker::default();
        let mut config = json!({"a": "Bearer ${env:APICONN_SECRET_T1}", "b": ["${file:pw}"], "c": "${env:PLAIN_T1}", "d": 1});
        resolve(&mut config, &policy, &mut masker).unwrap();
        assert_eq!(
            config,
            json!({"a": "Bearer tok en", "b": ["hunter2"], "c": "p", "d": 1})
        );
        assert_eq!(
            masker.mask("x tok en y tok+en z hunter2"),
            "x *** y *** z ***"
        );

        let mut bad = json!({"s": {"u": "${env:HOME}", "f": "${file:../etc/passwd}", "g": "${env:APICONN_SECRET_MISSING_X}", "h": "${vault:x}"}});
        let errors = resolve(&mut bad, &policy, &mut masker).unwrap_err();
        assert_eq!(errors.len(), 4);
        assert!(
            errors[0].starts_with("s.u: ${env:HOME}: environment variable `HOME` is not allowed")
        );
        assert!(
            errors[1].starts_with(
                "s.f: ${file:../etc/passwd}: `../etc/passwd` must be a plain file name"
            )
        );
        assert!(errors[2].contains("is not set"));
        assert!(errors[3].contains("unknown reference"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn no_variable_is_readable_unless_the_operator_allows_it() {
        // SAFETY: tests in this module are the only ones touching these names.
        unsafe { std::env::set_var("APICONN_SECRET_T2", "v") };
        let read = |policy: &SecretPolicy| {
            let mut config = json!({"a": "${env:APICONN_SECRET_T2}"});
            resolve(&mut config, policy, &mut Masker::default()).map(|()| config)
        };
        let errors = read(&SecretPolicy::default()).unwrap_err();
        assert_eq!(
            errors,
            [
                "a: ${env:APICONN_SECRET_T2}: environment variable `APICONN_SECRET_T2` is not allowed (pass --allow-env APICONN_SECRET_T2, or --allow-env-prefix with a prefix of it)"
            ]
        );
        for policy in [
            SecretPolicy {
                allow_env_prefixes: vec!["APICONN_SECRET_".into()],
                ..SecretPolicy::default()
            },
            SecretPolicy {
                allow_env: vec!["APICONN_SECRET_T2".into()],
                ..SecretPolicy::default()
            },
        ] {
            assert_eq!(read(&policy).unwrap(), json!({"a": "v"}));
        }
        let other = SecretPolicy {
            allow_env_prefixes: vec!["APICONN_SECRET_X".into(), String::new()],
            ..SecretPolicy::default()
        };
        assert!(read(&other).is_err());
    }
}
