use serde_json::json;

use super::*;

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

#[test]
fn tables_align_columns_and_trim_trailing_space() {
    let mut table = Table::new(&["NAME", "STATUS", "BASE URL"]);
    table.row(vec![
        "echo-tool".into(),
        Cell::status("Available"),
        "http://x".into(),
    ]);
    table.row(vec!["s".into(), Cell::status("Pending"), "".into()]);
    assert_eq!(
        table.render(false),
        "NAME       STATUS     BASE URL\n\
         echo-tool  Available  http://x\n\
         s          Pending\n"
    );
}

#[test]
fn colour_only_when_asked_and_never_changes_alignment() {
    let mut table = Table::new(&["NAME", "STATUS"]);
    table.row(vec!["a".into(), Cell::status("Failed")]);
    table.row(vec!["bb".into(), Cell::status("Running")]);
    let coloured = table.render(true);
    assert_eq!(
        coloured,
        "\x1b[1mNAME\x1b[0m  \x1b[1mSTATUS\x1b[0m\n\
         a     \x1b[31mFailed\x1b[0m\n\
         bb    \x1b[32mRunning\x1b[0m\n"
    );
    assert!(!table.render(false).contains('\x1b'));
    assert_eq!(paint("x", Style::Warn, false), "x");
    assert_eq!(paint("", Style::Bad, true), "");
}

#[test]
fn wide_characters_count_as_one_column() {
    let mut table = Table::new(&["A", "B"]);
    table.row(vec!["héllo".into(), "x".into()]);
    assert_eq!(table.render(false), "A      B\nhéllo  x\n");
}

#[test]
fn status_words_get_colours() {
    assert_eq!(status_style("Available"), Style::Good);
    assert_eq!(status_style("COMPLETED"), Style::Good);
    assert_eq!(status_style("PAUSED_APPROVAL"), Style::Warn);
    assert_eq!(status_style("Budget reached"), Style::Bad);
    assert_eq!(status_style("unhealthy"), Style::Bad);
    assert_eq!(status_style("whatever"), Style::Plain);
}

#[test]
fn field_blocks_align_values_and_mark_empty_ones() {
    let block = fields(
        &[
            ("Name", Cell::plain("bot")),
            ("Identity provider", Cell::plain("")),
        ],
        false,
    );
    assert_eq!(block, "Name:               bot\nIdentity provider:  -\n");
}

#[test]
fn relative_times() {
    let now = at("2026-05-13T12:00:00.000Z");
    for (text, expected) in [
        ("2026-05-13T12:00:00Z", "just now"),
        ("2026-05-13T11:59:18Z", "42s ago"),
        ("2026-05-13T11:57:00.500Z", "2m ago"),
        ("2026-05-13T07:00:00Z", "5h ago"),
        ("2026-05-11T12:00:00+02:00", "2d ago"),
        ("2026-05-13T12:10:00Z", "in 10m"),
        ("2026-01-02T03:04:05Z", "2026-01-02"),
        ("", "-"),
        ("yesterday", "yesterday"),
    ] {
        assert_eq!(relative_time(text, now), expected, "{text}");
    }
}

#[test]
fn reads_loose_json_fields() {
    let agent = json!({"name": "bot", "status": {"phase": "Running"}, "required_tools": ["a", "b"],
        "spec": {"requiredTools": [{"name": "a"}], "llmConfig": {"model": ""}}, "count": 3, "on": true});
    assert_eq!(status_word(&agent), "Running");
    assert_eq!(status_word(&json!({"status": "PENDING"})), "PENDING");
    assert_eq!(status_word(&json!({})), "");
    assert_eq!(pick(&agent, &["required_tools"]), "a, b");
    assert_eq!(pick(&agent, &["spec.requiredTools"]), "a");
    assert_eq!(pick(&agent, &["spec.llmConfig.model", "name"]), "bot");
    assert_eq!(pick(&agent, &["missing.path"]), "");
    assert_eq!(pick(&agent, &["count"]), "3");
    assert_eq!(pick(&agent, &["on"]), "true");
    assert_eq!(text(&json!({"a": 1})), "{\"a\":1}");
}
