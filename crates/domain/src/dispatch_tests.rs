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
