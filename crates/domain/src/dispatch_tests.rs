use super::*;
use crate::connector::{ConnectorSpec, ConnectorType, Defaults};
use crate::policy::{Delivery, DeliveryMode};

fn spec(name: &str, enabled: bool) -> ConnectorSpec {
    ConnectorSpec {
        name: name.into(),
        kind: ConnectorType::Webhook,
        endpoint: "https://hooks.example/a".into(),
        header_names: Vec::new(),
        enabled,
        timeout_seconds: 10,
        slack_security_mode: None,
        approver_map: Default::default(),
        link_approver: None,
        approve_transitions: Vec::new(),
        reject_transitions: Vec::new(),
    }
}

fn connectors() -> Vec<(String, ConnectorSpec)> {
    vec![
        ("ac_1".into(), spec("secops-slack", true)),
        ("ac_2".into(), spec("pager", true)),
        ("ac_3".into(), spec("off", false)),
    ]
}

#[test]
fn routing_names_connectors_by_id_or_name_and_skips_disabled_and_unknown() {
    let delivery = Delivery {
        connectors: vec![
            "pager".into(),
            "ac_1".into(),
            "off".into(),
            "nope".into(),
            "ac_2".into(),
        ],
        mode: Some(DeliveryMode::All),
        fallback_to_ui: false,
    };
    let route = route(Some(&delivery), &connectors(), &Defaults::default());
    assert_eq!(route.connectors, ["ac_2", "ac_1"], "in order, once each");
    assert_eq!(route.mode, DeliveryMode::All);
    assert!(!route.fallback_to_ui);
}

#[test]
fn routing_falls_back_to_workspace_defaults() {
    let defaults = Defaults {
        default_delivery_mode: DeliveryMode::All,
        default_fallback_to_ui: false,
        default_timeout_seconds: 10,
    };
    let route = route(None, &connectors(), &defaults);
    assert_eq!(
        route.connectors,
        ["ac_1", "ac_2"],
        "every enabled connector"
    );
    assert_eq!(route.mode, DeliveryMode::All);
    assert!(!route.fallback_to_ui);
    let silent = Delivery::default();
    let route = super::route(Some(&silent), &connectors(), &Defaults::default());
    assert_eq!(route.mode, DeliveryMode::FirstSuccess);
    assert!(route.fallback_to_ui);
    assert!(super::route(None, &[], &defaults).connectors.is_empty());
}

#[test]
fn webhook_signatures_verify_and_refuse_forgery_and_replay() {
    let now = Timestamp(1_760_000_000_000);
    let header = webhook_signature("s3cret", now, b"{\"a\":1}");
    assert!(header.starts_with("t=1760000000,v1="));
    verify_webhook_signature("s3cret", &header, b"{\"a\":1}", now).unwrap();
    verify_webhook_signature("s3cret", &header, b"{\"a\":1}", now.plus_seconds(299)).unwrap();
    assert!(verify_webhook_signature("s3cret", &header, b"{\"a\":2}", now).is_err());
    assert!(verify_webhook_signature("other", &header, b"{\"a\":1}", now).is_err());
    assert!(
        verify_webhook_signature("s3cret", &header, b"{\"a\":1}", now.plus_seconds(301)).is_err(),
        "replayed after the window"
    );
    assert!(verify_webhook_signature("s3cret", "v1=00", b"", now).is_err());
}

#[test]
fn slack_signatures_follow_the_documented_v0_scheme() {
    // Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
    let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let signature = slack_signature(secret, "1531420618", body);
    assert_eq!(
        signature,
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
    let now = Timestamp(1_531_420_618_000);
    verify_slack_signature(secret, "1531420618", &signature, body, now).unwrap();
    assert!(verify_slack_signature(secret, "1531420618", &signature, b"x", now).is_err());
    assert!(
        verify_slack_signature(
            secret,
            "1531420618",
            &signature,
            body,
            now.plus_seconds(600)
        )
        .is_err()
    );
    assert!(verify_slack_signature(secret, "1531420618", "a2114d", body, now).is_err());
}

#[test]
fn decision_links_are_signed_expiring_and_name_one_choice() {
    let now = Timestamp(1_760_000_000_000);
    let link = DecisionLink {
        id: "dl-1".into(),
        workspace: "default".into(),
        request_id: "req-1".into(),
        choice: Choice::ApproveRun.id().into(),
        connector_id: "ac_1".into(),
        exp: now.millis() / 1000 + 60,
    };
    let token = link.sign(b"key");
    assert!(!token.contains(['/', '+', '=']), "URL-safe: {token}");
    assert_eq!(DecisionLink::verify(b"key", &token, now).unwrap(), link);
    assert_eq!(
        link.choice().unwrap().scope(),
        Some((crate::approval::Scope::Run, None))
    );
    assert!(DecisionLink::verify(b"other", &token, now).is_err());
    assert!(DecisionLink::verify(b"key", &token, now.plus_seconds(60)).is_err());
    let (claims, signature) = token.split_once('.').unwrap();
    let tampered = format!("{claims}A.{signature}");
    assert!(DecisionLink::verify(b"key", &tampered, now).is_err());
    assert!(DecisionLink::verify(b"key", "garbage", now).is_err());
}

#[test]
fn choices_round_trip() {
    for choice in Choice::ALL {
        assert_eq!(Choice::parse(choice.id()), Some(choice));
    }
    assert_eq!(Choice::Reject.verdict(), Verdict::Reject);
    assert_eq!(Choice::ApproveWindow.scope().unwrap().1, Some(14_400));
}

#[test]
fn jira_signatures_are_websub_sha256_over_the_body() {
    let body = br#"{"webhookEvent":"jira:issue_updated"}"#;
    let signature = jira_signature("jira-secret", body);
    assert!(signature.starts_with("sha256=") && signature.len() == 7 + 64);
    assert!(verify_jira_signature("jira-secret", &signature, body).is_ok());
    assert!(verify_jira_signature("other", &signature, body).is_err());
    assert!(verify_jira_signature("jira-secret", &signature, b"{}").is_err());
    assert!(verify_jira_signature("jira-secret", "", body).is_err());
    let bare = signature.trim_start_matches("sha256=");
    assert!(verify_jira_signature("jira-secret", bare, body).is_err());
}

fn issue_updated(key: &str, items: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"timestamp": 1_760_000_000_000_i64, "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic", "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Ann"},
        "issue": {"id": "10001", "key": key, "fields": {"status": {"name": "Approved"}}},
        "changelog": {"id": "10100", "items": items}})
}

#[test]
fn jira_transitions_are_read_from_the_status_change() {
    let payload = issue_updated(
        "OPS-12",
        serde_json::json!([{"field": "assignee", "toString": "Ann"},
            {"field": "status", "fieldtype": "jira", "from": "10000", "fromString": "To Do", "to": "10002", "toString": "Approved"}]),
    );
    assert_eq!(
        jira_transition(&payload),
        Some(JiraTransition {
            issue_key: "OPS-12".into(),
            to_status: "Approved".into(),
            user: "5b10ac8d82e05b22cc7d4ef5".into(),
        })
    );
    let no_status = issue_updated(
        "OPS-12",
        serde_json::json!([{"field": "summary", "toString": "x"}]),
    );
    assert_eq!(jira_transition(&no_status), None);
    let mut created = payload.clone();
    created["webhookEvent"] = "comment_created".into();
    assert_eq!(jira_transition(&created), None);
    for bad_key in ["ops-12", "OPS-", "OPS-1%", "-12", "OPS"] {
        let bad = issue_updated(
            bad_key,
            serde_json::json!([{"field": "status", "toString": "Approved"}]),
        );
        assert_eq!(jira_transition(&bad), None, "{bad_key}");
    }
    let mut server = payload;
    server["user"] = serde_json::json!({"name": "ann", "key": "JIRAUSER10000"});
    assert_eq!(jira_transition(&server).unwrap().user, "ann");
}

#[test]
fn transition_names_decide_ignoring_case() {
    let approve = vec!["Approved".to_owned(), "Done".to_owned()];
    let reject = vec!["Rejected".to_owned(), "Won't Do".to_owned()];
    assert_eq!(
        transition_verdict("done", &approve, &reject),
        Some(Verdict::Approve)
    );
    assert_eq!(
        transition_verdict("WON'T DO", &approve, &reject),
        Some(Verdict::Reject)
    );
    assert_eq!(transition_verdict("In Progress", &approve, &reject), None);
}
