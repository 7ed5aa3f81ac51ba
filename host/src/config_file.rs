//! Config files: JSON is canonical; `.yaml`/`.yml` and `.toml` files mean
//! the same JSON.

use anyhow::{Context as _, Result, bail};
use serde_json::Value;
use std::path::Path;

pub fn load(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    parse(&text, path)
}

pub fn parse(text: &str, path: &Path) -> Result<Value> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("json")
        .to_ascii_lowercase();
    let shown = path.display();
    let value: Value = match ext.as_str() {
        "yaml" | "yml" => serde_saphyr::from_str(text)
            .map_err(|e| anyhow::anyhow!("{shown}: not valid YAML: {e}"))?,
        "toml" => {
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{shown}: not valid TOML: {e}"))?
        }
        "json" => serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("{shown}: not valid JSON: {e}"))?,
        other => {
            bail!("{shown}: unknown config format `.{other}` (use .json, .yaml, .yml or .toml)")
        }
    };
    if !value.is_object() {
        bail!("{shown}: a config is an object with a `source` key");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_toml_and_json_mean_the_same() {
        let json = parse(
            r#"{"source":{"name":"a","url":"http://x","retries":2},"read":{"records":"data"}}"#,
            Path::new("c.json"),
        )
        .unwrap();
        let yaml = parse(
            "source:\n  name: a\n  url: http://x\n  retries: 2\nread:\n  records: data\n",
            Path::new("c.yaml"),
        )
        .unwrap();
        let toml = parse(
            "[source]\nname = \"a\"\nurl = \"http://x\"\nretries = 2\n[read]\nrecords = \"data\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(json, yaml);
        assert_eq!(json, toml);
        let err = parse("source: [", Path::new("bad.yml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("bad.yml: not valid YAML"), "{err}");
        assert!(parse("{}", Path::new("c.ini")).is_err());
    }
}
