use serde_json::json;

use super::*;

#[test]
fn runs_are_filtered_sorted_newest_first_and_limited() {
    let runs = vec![
        json!({"id": "a", "user_id": "alice", "conversation_id": "c1", "created_at": "2026-05-01T10:00:00Z", "updated_at": "2026-05-01T10:05:00Z"}),
        json!({"id": "b", "user_id": "bob", "conversation_id": "c2", "created_at": "2026-05-02T10:00:00Z"}),
        json!({"id": "c", "user_id": "alice", "conversation_id": "c2", "created_at": "2026-05-01T09:00:00Z", "updated_at": "2026-05-03T00:00:00+02:00"}),
        json!({"id": "d", "user_id": "alice"}),
    ];
    let ids = |selected: Vec<Value>| -> Vec<String> {
        selected
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(select_runs(&runs, None, None, 50)),
        ["c", "b", "a", "d"]
    );
    assert_eq!(
        ids(select_runs(&runs, Some("alice"), None, 0)),
        ["c", "a", "d"]
    );
    assert_eq!(ids(select_runs(&runs, Some("alice"), Some("c2"), 0)), ["c"]);
    assert_eq!(ids(select_runs(&runs, None, None, 2)), ["c", "b"]);
    assert_eq!(ids(select_runs(&runs, Some(""), None, 1)), ["c"]);
}

#[test]
fn events_are_ordered_typed_and_keep_the_last_n() {
    let events = vec![
        json!({"seq": 3, "type": "TOOL_REQUEST"}),
        json!({"seq": 1, "type": "RUN_CREATED"}),
        json!({"sequence": 2, "type": "tool_request"}),
        json!({"seq": 4, "type": "COMPLETED"}),
    ];
    let seqs = |selected: Vec<Value>| -> Vec<i64> { selected.iter().map(seq).collect() };
    assert_eq!(seqs(select_events(&events, None, 0)), [1, 2, 3, 4]);
    assert_eq!(
        seqs(select_events(&events, Some("Tool_Request"), 0)),
        [2, 3]
    );
    assert_eq!(seqs(select_events(&events, None, 2)), [3, 4]);
}

#[test]
fn summaries_read_the_event_data() {
    let event = json!({"type": "TOOL_REQUEST", "data": {"tool_id": "stripe", "capability": "charge",
        "tool_method": "POST", "tool_url": "https://api.stripe.com/v1/charges", "status_code": 403}});
    assert_eq!(
        summary(&event),
        "stripe.charge POST https://api.stripe.com/v1/charges · HTTP 403"
    );
    let event = json!({"data": {"message": "hello", "approver_id": "ops@example.com"}});
    assert_eq!(summary(&event), "hello · by ops@example.com");
    assert_eq!(summary(&json!({"type": "X"})), "");
    assert_eq!(summary(&json!({"data": {"error": "boom"}})), "error: boom");
}

#[test]
fn timeline_has_one_entry_per_event_or_one_from_the_run() {
    let run = json!({"id": "r", "status": "RUNNING", "updated_at": "2026-05-01T10:00:00Z"});
    assert_eq!(
        timeline(&run, &[]),
        vec![
            json!({"seq": 0, "timestamp": "2026-05-01T10:00:00Z", "type": "RUNNING", "actor": "", "summary": "run is RUNNING"})
        ]
    );
    let events = vec![
        json!({"seq": 1, "type": "USER_MESSAGE", "actor": "alice", "timestamp": "t1", "data": {"content": "hi"}}),
    ];
    assert_eq!(
        timeline(&run, &events),
        vec![
            json!({"seq": 1, "timestamp": "t1", "type": "USER_MESSAGE", "actor": "alice", "summary": "hi"})
        ]
    );
}

#[test]
fn terminal_statuses_and_durations() {
    assert!(is_terminal("completed") && is_terminal(" FAILED "));
    assert!(!is_terminal("PAUSED_APPROVAL") && !is_terminal("RUNNING") && !is_terminal(""));
    assert_eq!(
        parse_duration("5m", "--timeout").unwrap(),
        Duration::from_secs(300)
    );
    assert_eq!(
        parse_duration("1h30m", "--timeout").unwrap(),
        Duration::from_secs(5_400)
    );
    assert_eq!(
        parse_duration("250ms", "--interval").unwrap(),
        Duration::from_millis(250)
    );
    assert_eq!(
        parse_duration("1m30s", "--interval").unwrap(),
        Duration::from_secs(90)
    );
    for bad in ["0s", "", "5", "m", "-1s", "2x", "1.5s"] {
        let error = parse_duration(bad, "--interval").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("--interval: invalid duration"),
            "{bad}: {error}"
        );
    }
}
