use super::*;
use crate::policy::DeliveryMode;
use serde_json::json;

fn fields(body: Value) -> Fields {
    Fields::parse(body).unwrap()
}

/// Parses, checks and resolves like a create, with nothing stored.
fn create(body: Value) -> Result<(ConnectorSpec, Vec<(String, Secret)>), Invalid> {
    let mut fields = Fields::parse(body)?;
    let sent = fields.headers.take().unwrap_or_default();
    check_headers(&sent)?;
    let headers = resolve_headers(sent, &[])?;
    let spec = ConnectorSpec::new(&fields, &headers, DEFAULT_TIMEOUT_SECONDS)?;
    Ok((spec, headers))
}

fn create_err(body: Value) -> String {
    match create(body.clone()) {
        Ok((spec, _)) => panic!("{body} was accepted: {spec:?}"),
        Err(invalid) => invalid.0,
    }
}

fn slack() -> Value {
    json!({"name": "secops-slack", "type": "slack", "endpoint": "C0123456789",
           "headers": {"X-Slack-Bot-Token": "xoxb-secret"}, "timeout_seconds": 15})
}

#[test]
fn creates_with_documented_defaults() {
    let (spec, headers) =
        create(json!({"name": "hook", "endpoint": "https://approvals.example.com/hook/"})).unwrap();
    assert_eq!(spec.kind, ConnectorType::Webhook);
    assert!(spec.enabled);
    assert_eq!(spec.timeout_seconds, DEFAULT_TIMEOUT_SECONDS);
    assert_eq!(spec.slack_security_mode, None);
    // A webhook path is kept as given: the trailing slash can matter to the receiver.
    assert_eq!(spec.endpoint, "https://approvals.example.com/hook/");
    assert!(headers.is_empty());
}

#[test]
fn slack_defaults_to_compat_and_keeps_header_names_not_values() {
    let (spec, headers) = create(slack()).unwrap();
    assert_eq!(spec.kind, ConnectorType::Slack);
    assert_eq!(spec.slack_security_mode, Some(SlackSecurityMode::Compat));
    assert_eq!(spec.timeout_seconds, 15);
    assert_eq!(spec.header_names, vec![SLACK_BOT_TOKEN]);
    assert_eq!(headers[0].1.expose(), "xoxb-secret");
    let stored = serde_json::to_string(&spec).unwrap();
    assert!(!stored.contains("xoxb-secret"), "{stored}");
    assert!(stored.contains("\"type\":\"slack\""), "{stored}");
}

#[test]
fn empty_strings_and_nulls_mean_absent_and_unknown_keys_are_ignored() {
    let parsed = fields(
        json!({"name": " a ", "type": "", "endpoint": null, "slack_security_mode": "",
        "id": "ac_1", "created_at": "2026-01-01T00:00:00Z", "whatever": [1]}),
    );
    assert_eq!(parsed.name.as_deref(), Some("a"));
    assert!(
        parsed.kind.is_none() && parsed.endpoint.is_none() && parsed.slack_security_mode.is_none()
    );
}

#[test]
fn json_shape_errors() {
    for (body, expected) in [
        (json!([]), "must be a JSON object"),
        (json!({"name": 1}), "name must be a string"),
        (json!({"endpoint": true}), "endpoint must be a string"),
        (json!({"enabled": "yes"}), "enabled must be true or false"),
        (json!({"timeout_seconds": "15"}), "whole number of seconds"),
        (json!({"timeout_seconds": 1.5}), "whole number of seconds"),
        (json!({"headers": "x"}), "headers must be an object"),
        (
            json!({"headers": {"X-A": 1}}),
            "headers.X-A must be a string",
        ),
    ] {
        let error = Fields::parse(body.clone()).unwrap_err();
        assert!(error.0.contains(expected), "{body}: {error}");
    }
}

#[test]
fn every_validation_rule() {
    let cases = [
        (json!({"endpoint": "https://x.example"}), "name is required"),
        (json!({"name": "a"}), "endpoint is required"),
        (
            json!({"name": "a\u{7}", "endpoint": "https://x.example"}),
            "control characters",
        ),
        (
            json!({"name": "x".repeat(129), "endpoint": "https://x.example"}),
            "at most 128",
        ),
        (
            json!({"name": "a", "type": "email", "endpoint": "https://x.example"}),
            "not supported: use webhook, slack, teams, jira or pagerduty",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "timeout_seconds": 0}),
            "between 1 and 120 (got 0)",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "timeout_seconds": 121}),
            "between 1 and 120 (got 121)",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "timeout_seconds": -5}),
            "between 1 and 120",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "timeout_seconds": u64::MAX}),
            "between 1 and 120",
        ),
        (
            json!({"name": "a", "endpoint": "http://approvals.example.com"}),
            "webhook endpoint \"http://approvals.example.com\" must be an https:// URL",
        ),
        (
            json!({"name": "a", "endpoint": "approvals.example.com"}),
            "not a valid URL",
        ),
        (
            json!({"name": "a", "endpoint": "ftp://x.example"}),
            "must be an https:// URL",
        ),
        (
            json!({"name": "a", "type": "teams", "endpoint": "http://outlook.example.com/webhook"}),
            "teams endpoint",
        ),
        (
            json!({"name": "a", "type": "jira", "endpoint": "http://acme.atlassian.net"}),
            "jira endpoint",
        ),
        (
            json!({"name": "a", "type": "jira", "endpoint": "https://acme.atlassian.net/?a=1"}),
            "base URL",
        ),
        (
            json!({"name": "a", "type": "slack", "endpoint": "#secops", "headers": {"X-Slack-Bot-Token": "t"}}),
            "channel id such as C0123456789",
        ),
        (
            json!({"name": "a", "type": "slack", "endpoint": "c0123456789", "headers": {"X-Slack-Bot-Token": "t"}}),
            "channel id",
        ),
        (
            json!({"name": "a", "type": "slack", "endpoint": "C0123456789"}),
            "need the bot token in header X-Slack-Bot-Token",
        ),
        (
            json!({"name": "a", "type": "slack", "endpoint": "C0123456789", "headers": {"X-Slack-Bot-Token": "  "}}),
            "X-Slack-Bot-Token",
        ),
        (
            json!({"name": "a", "type": "slack", "endpoint": "C0123456789", "slack_security_mode": "strict", "headers": {"X-Slack-Bot-Token": "t"}}),
            "strict mode needs the signing secret in header X-Slack-Signing-Secret",
        ),
        (
            json!({"name": "a", "type": "slack", "endpoint": "C0123456789", "slack_security_mode": "paranoid", "headers": {"X-Slack-Bot-Token": "t"}}),
            "use compat or strict",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "slack_security_mode": "compat"}),
            "applies only to slack connectors, not webhook",
        ),
        (
            json!({"name": "a", "type": "pagerduty", "endpoint": "https://events.pagerduty.com/v2/enqueue"}),
            "need a routing key in header X-PagerDuty-Routing-Key (or X-Routing-Key)",
        ),
        (
            json!({"name": "a", "type": "pagerduty", "endpoint": "http://events.pagerduty.com/v2/enqueue", "headers": {"X-Routing-Key": "r"}}),
            "pagerduty endpoint",
        ),
        (
            json!({"name": "a", "type": "pagerduty", "endpoint": "two words", "headers": {"X-Routing-Key": "r"}}),
            "single word",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "headers": {"Bad Header": "v"}}),
            "\"Bad Header\" is not a valid HTTP header name",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "headers": {"": "v"}}),
            "not a valid HTTP header name",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "headers": {"Host": "evil"}}),
            "set by the platform",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "headers": {"X-A": "1", "x-a": "2"}}),
            "more than once",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "headers": {"X-A": "line\r\nX-Injected: 1"}}),
            "control characters",
        ),
        (
            json!({"name": "a", "endpoint": "https://x.example", "headers": {"X-A": MASK}}),
            "masked (\"********\") but no value is stored",
        ),
    ];
    for (body, expected) in cases {
        let error = create_err(body.clone());
        assert!(error.contains(expected), "{body}: {error}");
    }
    let many: serde_json::Map<String, Value> =
        (0..33).map(|i| (format!("X-H{i}"), json!("v"))).collect();
    let error = create_err(json!({"name": "a", "endpoint": "https://x.example", "headers": many}));
    assert!(error.contains("at most 32 headers"), "{error}");
}

#[test]
fn credential_errors_never_echo_values() {
    let error = create_err(
        json!({"name": "a", "endpoint": "https://x.example", "headers": {"X-A": "sekrit\nvalue"}}),
    );
    assert!(!error.contains("sekrit"), "{error}");
}

#[test]
fn accepted_variants() {
    for body in [
        json!({"name": "a", "type": "Slack", "endpoint": "C123", "headers": {"x-slack-bot-token": "t"}}),
        json!({"name": "a", "type": "slack", "endpoint": "G0ABCDEF", "slack_security_mode": "strict",
               "headers": {"X-Slack-Bot-Token": "t", "X-Slack-Signing-Secret": "s"}}),
        json!({"name": "a", "type": "pagerduty", "endpoint": "https://events.pagerduty.com/v2/enqueue", "headers": {"X-PagerDuty-Routing-Key": "r"}}),
        json!({"name": "a", "type": "pagerduty", "endpoint": "P123ABC", "headers": {"X-Routing-Key": "r"}}),
        json!({"name": "a", "type": "teams", "endpoint": "https://acme.webhook.office.com/webhookb2/x"}),
        json!({"name": "a", "type": "jira", "endpoint": "https://acme.atlassian.net", "headers": {"Authorization": "Basic abc"}}),
        json!({"name": "Sec Ops (Slack)", "endpoint": "https://x.example", "enabled": false, "timeout_seconds": 120}),
        json!({"name": "a", "endpoint": "https://x.example", "timeout_seconds": 1}),
        // Loopback may use plain http: the traffic never leaves the machine.
        json!({"name": "a", "endpoint": "http://127.0.0.1:9000/hook"}),
        json!({"name": "a", "endpoint": "http://localhost/hook"}),
        json!({"name": "a", "endpoint": "http://[::1]:8080/"}),
    ] {
        assert!(
            create(body.clone()).is_ok(),
            "{body}: {:?}",
            create(body.clone()).err()
        );
    }
    let (spec, _) =
        create(json!({"name": "a", "type": "jira", "endpoint": "https://acme.atlassian.net/"}))
            .unwrap();
    assert_eq!(
        spec.endpoint, "https://acme.atlassian.net",
        "a jira base URL loses its trailing slash"
    );
}

#[test]
fn masked_values_resolve_from_stored_ignoring_case() {
    let stored = vec![(SLACK_BOT_TOKEN.to_owned(), Secret::new("xoxb-stored"))];
    let sent = fields(json!({"headers": {"x-slack-bot-token": MASK, "X-Extra": "new"}}))
        .headers
        .unwrap();
    let resolved = resolve_headers(sent, &stored).unwrap();
    assert_eq!(
        header(&resolved, SLACK_BOT_TOKEN).unwrap().expose(),
        "xoxb-stored"
    );
    assert_eq!(header(&resolved, "x-extra").unwrap().expose(), "new");
    // The name as sent wins, so a client can fix the case of a header name.
    assert_eq!(resolved[0].0, "X-Extra");
}

#[test]
fn patch_merges_and_revalidates() {
    let (spec, headers) = create(slack()).unwrap();
    let renamed = spec
        .patched(
            &fields(json!({"name": "renamed", "enabled": false})),
            &headers,
        )
        .unwrap();
    assert_eq!(
        (
            renamed.name.as_str(),
            renamed.enabled,
            renamed.timeout_seconds,
            renamed.endpoint.as_str()
        ),
        ("renamed", false, 15, "C0123456789")
    );
    // The merged result must still hold: strict without a signing secret is refused.
    let error = spec
        .patched(&fields(json!({"slack_security_mode": "strict"})), &headers)
        .unwrap_err();
    assert!(error.0.contains(SLACK_SIGNING_SECRET), "{error}");
    // Leaving Slack drops the stored Slack mode instead of failing on it.
    let webhook = spec
        .patched(
            &fields(json!({"type": "webhook", "endpoint": "https://x.example/h"})),
            &[],
        )
        .unwrap();
    assert_eq!(
        (webhook.kind, webhook.slack_security_mode),
        (ConnectorType::Webhook, None)
    );
    assert!(webhook.header_names.is_empty());
    // Becoming Slack needs a channel id and a token.
    let error = webhook
        .patched(&fields(json!({"type": "slack"})), &[])
        .unwrap_err();
    assert!(error.0.contains("channel id"), "{error}");
    let error = spec
        .patched(&fields(json!({"timeout_seconds": 500})), &headers)
        .unwrap_err();
    assert!(error.0.contains("between 1 and 120"), "{error}");
}

#[test]
fn stored_document_round_trips() {
    let (spec, _) = create(slack()).unwrap();
    let back: ConnectorSpec = serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
    assert_eq!(back, spec);
}

#[test]
fn defaults_partial_update_and_validation() {
    let defaults = Defaults::default();
    assert_eq!(
        serde_json::to_value(&defaults).unwrap(),
        json!({"default_delivery_mode": "first_success", "default_fallback_to_ui": true, "default_timeout_seconds": 10})
    );
    assert_eq!(defaults.updated(json!({})).unwrap(), defaults);
    let updated = defaults
        .updated(json!({"default_delivery_mode": "all", "default_timeout_seconds": 30, "min_timeout_seconds": 5}))
        .unwrap();
    assert_eq!(updated.default_delivery_mode, DeliveryMode::All);
    assert_eq!(updated.default_timeout_seconds, 30);
    assert!(updated.default_fallback_to_ui);
    let updated = updated
        .updated(json!({"default_fallback_to_ui": false}))
        .unwrap();
    assert_eq!(
        (
            updated.default_fallback_to_ui,
            updated.default_timeout_seconds
        ),
        (false, 30)
    );
    for (body, expected) in [
        (
            json!({"default_delivery_mode": "sometimes"}),
            "use first_success or all",
        ),
        (
            json!({"default_delivery_mode": 1}),
            "use first_success or all",
        ),
        (json!({"default_fallback_to_ui": "yes"}), "true or false"),
        (
            json!({"default_timeout_seconds": 0}),
            "default_timeout_seconds must be between 1 and 120",
        ),
        (json!({"default_timeout_seconds": 121}), "between 1 and 120"),
        (json!({"default_timeout_seconds": "10"}), "whole number"),
        (json!([]), "JSON object"),
    ] {
        let error = defaults.updated(body.clone()).unwrap_err();
        assert!(error.0.contains(expected), "{body}: {error}");
    }
    // A stored value missing keys (an older version) reads with the defaults filled in.
    let partial: Defaults = serde_json::from_value(json!({"default_timeout_seconds": 20})).unwrap();
    assert_eq!(partial.default_delivery_mode, DeliveryMode::FirstSuccess);
}

#[test]
fn activity_limits() {
    assert_eq!(activity_limit(None).unwrap(), 50);
    assert_eq!(activity_limit(Some("")).unwrap(), 50);
    assert_eq!(activity_limit(Some("1")).unwrap(), 1);
    assert_eq!(activity_limit(Some("500")).unwrap(), 500);
    for bad in ["0", "501", "-1", "ten", "2.5"] {
        assert!(activity_limit(Some(bad)).is_err(), "{bad}");
    }
}

#[test]
fn activity_omits_absent_numbers() {
    let activity = Activity {
        event: "connector_created".into(),
        ..Activity::default()
    };
    let value = serde_json::to_value(&activity).unwrap();
    assert_eq!(value["connector_id"], "");
    assert!(value.get("status_code").is_none() && value.get("duration_ms").is_none());
}

#[test]
fn report_is_healthy_unless_a_check_failed() {
    let invalid = Invalid::new("bad");
    let report = TestReport::new(
        "pagerduty".into(),
        "P1".into(),
        vec![
            Check::config(Ok(())),
            Check::credentials(Ok(())),
            Check::skipped("connectivity", "Connectivity", "events only"),
        ],
    );
    assert!(report.healthy());
    assert_eq!(report.summary(), "Connector test passed");
    let report = TestReport::new(
        "webhook".into(),
        "x".into(),
        vec![
            Check::config(Err(&invalid)),
            Check::connectivity(true, "ok", 3),
        ],
    );
    assert_eq!(report.status, "unhealthy");
    assert_eq!(report.summary(), "Configuration check failed: bad");
    let value = serde_json::to_value(&report).unwrap();
    assert_eq!(
        value["checks"][0],
        json!({"id": "config", "label": "Configuration", "status": "failed", "message": "bad"})
    );
    assert_eq!(value["checks"][1]["duration_ms"], 3);
}

fn jira() -> Value {
    json!({"name": "ops-jira", "type": "jira", "endpoint": "https://acme.atlassian.net",
           "headers": {"Authorization": "Basic x", "X-Jira-Project": "OPS"}})
}

#[test]
fn approver_settings_map_people_and_link_holders() {
    let mut body = slack();
    body["approver_map"] = json!({"U123ALICE": {"subject": "alice@example.com", "groups": ["finance"]},
                                  "U456BOB": {"groups": ["sre"]}});
    let (spec, _) = create(body).unwrap();
    let alice = spec.approver_for("U123ALICE");
    assert_eq!(
        (alice.subject.as_str(), alice.groups),
        ("alice@example.com", vec!["finance".to_owned()])
    );
    assert_eq!(
        spec.approver_for("U456BOB").subject,
        "slack:U456BOB",
        "mapped without a subject"
    );
    let stranger = spec.approver_for("U999");
    assert_eq!(
        (stranger.subject.as_str(), stranger.groups.len()),
        ("slack:U999", 0)
    );
    assert_eq!(spec.granted_groups(), ["finance", "sre"]);
    let back: ConnectorSpec = serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
    assert_eq!(back, spec);

    let (hook, _) = create(json!({"name": "hook", "endpoint": "https://x.example/h",
        "link_approver": {"subject": "release-bot", "groups": ["release"]}}))
    .unwrap();
    assert_eq!(hook.link_holder().subject, "release-bot");
    assert_eq!(hook.granted_groups(), ["release"]);
    let (plain, _) =
        create(json!({"name": "hook", "endpoint": "https://x.example/h", "link_approver": {}}))
            .unwrap();
    assert_eq!(plain.link_approver, None, "an empty identity is none");
    let holder = plain.link_holder();
    assert_eq!(
        (holder.subject.as_str(), holder.groups.len()),
        ("link:hook", 0)
    );
    // Stored connectors from before these settings read with none of them.
    let old: ConnectorSpec = serde_json::from_value(json!({"name": "hook", "type": "webhook",
        "endpoint": "https://x.example/h", "enabled": true, "timeout_seconds": 10}))
    .unwrap();
    assert!(old.approver_map.is_empty() && old.link_approver.is_none());
}

#[test]
fn approver_settings_apply_only_where_the_type_uses_them() {
    let mut slack_links = slack();
    slack_links["link_approver"] = json!({"groups": ["x"]});
    assert!(create_err(slack_links).contains("link_approver applies only"));
    assert!(
        create_err(
            json!({"name": "h", "endpoint": "https://x.example/h", "approver_map": {"U1": {}}})
        )
        .contains("approver_map applies only to slack and jira")
    );
    let mut slack_transitions = slack();
    slack_transitions["approve_transitions"] = json!(["Done"]);
    assert!(create_err(slack_transitions).contains("applies only to jira"));
    let mut both = jira();
    both["approve_transitions"] = json!(["Done"]);
    both["reject_transitions"] = json!(["done"]);
    assert!(create_err(both).contains("in both"));
    for (key, bad) in [
        ("approver_map", json!(["U1"])),
        ("approver_map", json!({"U 1": {}})),
        ("approver_map", json!({"U1": {"groups": "finance"}})),
        ("approve_transitions", json!("Done")),
        ("approve_transitions", json!([""])),
        ("link_approver", json!({"subject": ""})),
    ] {
        let mut body = jira();
        body[key] = bad.clone();
        assert!(Fields::parse(body).is_err(), "{key}: {bad}");
    }
}

#[test]
fn jira_transitions_default_and_patch_keeps_or_drops_settings() {
    let (spec, headers) = create(jira()).unwrap();
    assert_eq!(
        spec.transitions(),
        (vec!["Approved".to_owned()], vec!["Rejected".to_owned()])
    );
    let configured = spec
        .patched(
            &fields(json!({"approve_transitions": ["Approved", "Done"], "reject_transitions": ["Won't Do"],
                "approver_map": {"5b10ac8d": {"subject": "ann", "groups": ["finance"]}}})),
            &headers,
        )
        .unwrap();
    assert_eq!(configured.transitions().0, ["Approved", "Done"]);
    let renamed = configured
        .patched(&fields(json!({"name": "jira-2"})), &headers)
        .unwrap();
    assert_eq!(
        renamed.approver_map, configured.approver_map,
        "kept by a patch that leaves them out"
    );
    assert_eq!(renamed.reject_transitions, ["Won't Do"]);
    let cleared = renamed
        .patched(&fields(json!({"approver_map": {}})), &headers)
        .unwrap();
    assert!(cleared.approver_map.is_empty());
    // Becoming a webhook drops what only Jira uses; the link holder stays.
    let mut linked = configured;
    linked.link_approver = Some(crate::approver::Approver {
        subject: "bot".into(),
        groups: vec![],
    });
    let webhook = linked
        .patched(
            &fields(json!({"type": "webhook", "endpoint": "https://x.example/h"})),
            &[],
        )
        .unwrap();
    assert!(webhook.approver_map.is_empty() && webhook.approve_transitions.is_empty());
    assert_eq!(webhook.link_holder().subject, "bot");
}
