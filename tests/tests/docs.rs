//! The config reference cannot drift: `docs/config.md` is the output of
//! `apiconn schema --markdown`, byte for byte.

use apiconn_tests::bin;

const REGENERATE: &str = "cargo run -q -p apiconn -- schema --markdown > docs/config.md";

#[test]
fn config_reference_is_the_schema_rendered() {
    let run = bin::run(&["schema", "--markdown"]);
    assert_eq!(
        run.code, 0,
        "apiconn schema --markdown failed:\n{}",
        run.stderr
    );
    let path = bin::root().join("docs/config.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reading {}: {e}; create it with `{REGENERATE}`",
            path.display()
        )
    });
    if committed != run.stdout {
        let line = committed
            .lines()
            .zip(run.stdout.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "one is a prefix of the other".to_string(),
                |i| format!("first difference at line {}", i + 1),
            );
        panic!(
            "docs/config.md is not the output of `apiconn schema --markdown` ({line}); \
             regenerate it with `{REGENERATE}`"
        );
    }
}

#[test]
fn config_reference_names_every_top_level_key_and_its_variants() {
    let run = bin::run(&["schema", "--markdown"]);
    for key in [
        "| `source` |",
        "| `source.auth.token_url` |",
        "| `read.paginate.from` |",
        "| `write.batch_size` |",
        "### `read.paginate` with `\"type\": \"traverse\"`",
    ] {
        assert!(run.stdout.contains(key), "no {key} in:\n{}", run.stdout);
    }
}
