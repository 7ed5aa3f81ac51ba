//! `apiconn validate`: every mistake at once, each with its JSON path.

use apiconn_tests::bin::{config_file, run};

#[test]
fn three_mistakes_give_three_errors_with_paths() {
    let path = config_file(
        r#"{"source": {"name": "orders", "url": "https://api.example.com", "retries": 20},
            "read": {"recods": "data", "paginate": {"type": "page", "param": "p", "stepp": 2}, "flatten": {"arrays": "keep"}}}"#,
        "json",
    );
    let out = run(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.code, 3);
    let problems: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(problems.len(), 4, "{}", out.stderr);
    assert!(problems.contains(&"source.retries: must be at most 10"));
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("read.recods: unknown key"))
    );
    assert!(problems.iter().any(|p| p.starts_with(
        "read.paginate.stepp: unknown key: did you mean `step`? (expected one of: type, param, in, start, step, stop)"
    )));
    assert!(
        problems.contains(&"read.flatten.arrays: expected one of \"error\", \"json\", \"drop\"")
    );
    assert_eq!(out.stdout, "");
}

#[test]
fn yaml_and_toml_configs_are_the_same_config() {
    let yaml = config_file(
        "source:\n  name: 订单-api\n  url: https://api.example.com\nread:\n  records: data.rows\n  fields:\n    - { name: id, type: long }\n",
        "yaml",
    );
    let out = run(&["validate", yaml.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let toml = config_file(
        "[source]\nname = \"a\"\nurl = \"mailto:x@y\"\n[read]\nmethod = \"GET\"\nbody = { x = 1 }\n",
        "toml",
    );
    let out = run(&["validate", toml.to_str().unwrap()]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr
            .contains("source.url: scheme `mailto` is not allowed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("read.body: a GET request has no body"),
        "{}",
        out.stderr
    );
    let broken = config_file("source: [", "yml");
    let out = run(&["validate", broken.to_str().unwrap()]);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains("not valid YAML"), "{}", out.stderr);
}

#[test]
fn an_unknown_environment_lists_the_known_ones() {
    let path = config_file(
        r#"{"source": {"name": "a", "url": "https://prod.example.com", "environments": {"dev": {"url": "https://dev.example.com"}}}, "read": {}}"#,
        "json",
    );
    assert_eq!(
        run(&["validate", path.to_str().unwrap(), "--env", "dev"]).code,
        0
    );
    let out = run(&["validate", path.to_str().unwrap(), "--env", "qa"]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr
            .contains("source.environments: unknown environment `qa` (known: dev)"),
        "{}",
        out.stderr
    );
}
