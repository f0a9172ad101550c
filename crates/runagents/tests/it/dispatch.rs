//! Approval delivery end to end, against local fakes that speak the real wire formats and
//! check credentials and signatures: Slack Web API, a webhook receiver, a Teams incoming
//! webhook, the PagerDuty Events API and Jira's REST API (with its transition webhook sent
//! back to us).

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use runagents_domain::Timestamp;
use runagents_domain::dispatch::{slack_signature, verify_webhook_signature};
use runagents_testkit::{Backend, TestServer};
use serde_json::{Value, json};

use crate::egress::{Setup, call, setup_on};

/// One request a fake received: path, headers, JSON body, and whether its signature held.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: axum::http::HeaderMap,
    body: Value,
    raw: Vec<u8>,
}

/// A fake service: records every request and answers with `status` (settable: 503 = down).
#[derive(Clone)]
struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl Fake {
    fn seen(&self, path: &str) -> Vec<Received> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    async fn wait_for(&self, path: &str, count: usize) -> Vec<Received> {
        for _ in 0..400 {
            let seen = self.seen(path);
            if seen.len() >= count {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{path} was called fewer than {count} times: {:?}",
            self.seen(path)
        );
    }

    fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

/// `answer(path, headers, body)` gives the JSON answer for a 2xx status.
async fn fake(answer: fn(&str, &axum::http::HeaderMap, &Value) -> (u16, Value)) -> Fake {
    let fake = Fake {
        url: String::new(),
        seen: Arc::default(),
        status: Arc::new(AtomicU16::new(200)),
    };
    let recorder = fake.clone();
    let app = axum::Router::new().fallback(move |request: Request| {
        let recorder = recorder.clone();
        async move {
            let (parts, body) = request.into_parts();
            let raw = axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec();
            let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
            let path = parts.uri.path().to_owned();
            recorder.seen.lock().unwrap().push(Received {
                path: path.clone(),
                headers: parts.headers.clone(),
                body: body.clone(),
                raw,
            });
            let forced = recorder.status.load(Ordering::SeqCst);
            let (status, answer) = if forced == 200 {
                answer(&path, &parts.headers, &body)
            } else {
                (forced, json!({"error": "down"}))
            };
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                axum::Json(answer),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake { url, ..fake }
}

/// Slack's Web API: the bearer token must be `xoxb-test`.
async fn fake_slack() -> Fake {
    fake(|path, headers, body| {
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer xoxb-test") {
            return (200, json!({"ok": false, "error": "invalid_auth"}));
        }
        match path {
            "/chat.postMessage" => (
                200,
                json!({"ok": true, "channel": body["channel"], "ts": "1700000000.000100"}),
            ),
            "/chat.update" => (
                200,
                json!({"ok": true, "channel": body["channel"], "ts": body["ts"]}),
            ),
            _ => (200, json!({"ok": false, "error": "unknown_method"})),
        }
    })
    .await
}

/// PagerDuty Events API v2: the routing key must be `pd-routing-key`.
async fn fake_pagerduty() -> Fake {
    fake(|_, _, body| {
        if body["routing_key"] != "pd-routing-key" {
            return (
                400,
                json!({"status": "invalid event", "errors": ["routing key"]}),
            );
        }
        (
            202,
            json!({"status": "success", "dedup_key": body["dedup_key"]}),
        )
    })
    .await
}

async fn fake_ok() -> Fake {
    fake(|_, _, _| (200, json!({"ok": true}))).await
}

async fn start(slack: Option<&Fake>) -> Setup {
    let server = match slack {
        Some(slack) => {
            TestServer::start_with_env(
                Backend::Sqlite,
                &[],
                &[("RUNAGENTS_SLACK_API_URL", &slack.url)],
            )
            .await
        }
        None => TestServer::start(Backend::Sqlite).await,
    };
    setup_on(server).await
}

async fn connector(s: &Setup, body: Value) -> String {
    let (status, created) = s.server.client().post("/approval-connectors", body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn block(s: &Setup, run_id: &str, amount: u64) -> String {
    let (status, body) = call(
        "POST",
        &format!("{}/v1/charges", s.tool_url),
        Some(run_id),
        Some(json!({"amount": amount})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("APPROVAL_REQUIRED")),
        "{body}"
    );
    body["request_id"].as_str().unwrap().to_owned()
}

async fn request(s: &Setup, id: &str) -> Value {
    s.server
        .client()
        .get(&format!("/approvals/requests/{id}"))
        .await
        .1
}

async fn activity(s: &Setup) -> Vec<Value> {
    let (_, entries) = s
        .server
        .client()
        .get("/approval-connectors/activity?limit=200")
        .await;
    entries.as_array().unwrap().clone()
}

async fn wait_activity(s: &Setup, event: &str, connector: &str) -> Value {
    for _ in 0..400 {
        if let Some(entry) = activity(s)
            .await
            .into_iter()
            .find(|e| e["event"] == event && e["connector_id"] == connector)
        {
            return entry;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no {event} for {connector}: {:?}", activity(s).await);
}

async fn wait_run(s: &Setup, run_id: &str, status: &str) {
    for _ in 0..400 {
        let (_, run) = s.server.client().get(&format!("/runs/{run_id}")).await;
        if run["status"] == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("run {run_id} never reached {status}");
}

fn charges_seen(s: &Setup) -> usize {
    s.upstream
        .seen()
        .iter()
        .filter(|seen| seen.method == "POST" && seen.uri == "/v1/charges")
        .count()
}

/// A Slack button press as Slack sends it: form-encoded `payload`, v0-signed.
fn slack_press(
    button_value: &str,
    action_id: &str,
    signed_at: i64,
    secret: &str,
) -> (String, String, String) {
    slack_press_by("U123ALICE", "", button_value, action_id, signed_at, secret)
}

fn slack_press_by(
    user: &str,
    response_url: &str,
    button_value: &str,
    action_id: &str,
    signed_at: i64,
    secret: &str,
) -> (String, String, String) {
    let payload = json!({"type": "block_actions", "token": "legacy", "user": {"id": user, "username": user.to_lowercase()},
        "channel": {"id": "C0123456789"}, "response_url": response_url,
        "actions": [{"action_id": action_id, "value": button_value, "type": "button"}]});
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let timestamp = signed_at.to_string();
    let signature = slack_signature(secret, &timestamp, body.as_bytes());
    (body, timestamp, signature)
}

async fn post_slack(s: &Setup, press: &(String, String, String)) -> u16 {
    post_slack_answer(s, press).await.0
}

async fn post_slack_answer(s: &Setup, press: &(String, String, String)) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/integrations/slack/interactivity", s.server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &press.1)
        .header("x-slack-signature", &press.2)
        .body(press.0.clone())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn now_secs() -> i64 {
    Timestamp::now().millis() / 1000
}

#[tokio::test]
async fn release_notes_scenario_approved_from_slack() {
    let slack = fake_slack().await;
    let s = start(Some(&slack)).await;
    let id = connector(&s, json!({"name": "secops-slack", "type": "slack", "endpoint": "C0123456789", "slack_security_mode": "strict",
        "headers": {"X-Slack-Bot-Token": "xoxb-test", "X-Slack-Signing-Secret": "slack-signing"}})).await;
    let request_id = block(&s, &s.run_id, 100).await;

    let posted = slack.wait_for("/chat.postMessage", 1).await;
    let message = &posted[0].body;
    assert_eq!(message["channel"], "C0123456789");
    let buttons = message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap()["elements"]
        .as_array()
        .unwrap()
        .clone();
    let labels: Vec<&str> = buttons
        .iter()
        .map(|b| b["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "Approve once",
            "Approve for this run",
            "Approve for 4h",
            "Reject"
        ]
    );
    let text = message.to_string();
    for expected in [
        "billing",
        "stripe",
        "charge",
        "alice@example.com",
        &s.run_id,
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    assert!(!text.contains("xoxb-test"));
    wait_activity(&s, "dispatch_succeeded", &id).await;
    let value = buttons[1]["value"].as_str().unwrap();

    // Forged and replayed presses decide nothing.
    let forged = slack_press(value, "approve_run", now_secs(), "not-the-secret");
    assert_eq!(post_slack(&s, &forged).await, 403);
    let replayed = slack_press(value, "approve_run", now_secs() - 600, "slack-signing");
    assert_eq!(post_slack(&s, &replayed).await, 403);
    let mut tampered = slack_press(value, "approve_run", now_secs(), "slack-signing");
    tampered.0.push_str("%20");
    assert_eq!(post_slack(&s, &tampered).await, 403);
    assert_eq!(request(&s, &request_id).await["status"], "PENDING");

    let press = slack_press(value, "approve_run", now_secs(), "slack-signing");
    assert_eq!(post_slack(&s, &press).await, 200);
    let decided = request(&s, &request_id).await;
    assert_eq!(
        (
            decided["status"].as_str(),
            decided["scope"].as_str(),
            decided["approver_id"].as_str()
        ),
        (Some("APPROVED"), Some("run"), Some("slack:U123ALICE"))
    );
    wait_run(&s, &s.run_id, "RUNNING").await;
    assert_eq!(charges_seen(&s), 1, "the write reached the upstream once");
    // The same press again (a double click, a Slack retry): one decision.
    assert_eq!(post_slack(&s, &press).await, 200);

    let updated = slack.wait_for("/chat.update", 1).await;
    assert_eq!(updated[0].body["ts"], "1700000000.000100");
    assert!(
        updated[0].body["text"]
            .as_str()
            .unwrap()
            .contains("Approved for this run by <@U123ALICE>"),
        "{}",
        updated[0].body
    );
    assert!(
        !updated[0].body.to_string().contains("\"actions\""),
        "buttons removed"
    );
    let received = wait_activity(&s, "decision_received", &id).await;
    assert_eq!(received["approver_id"], "slack:U123ALICE");
    assert_eq!(received["request_id"], request_id.as_str());
    assert_eq!(received["decision"], "approved");
    let decisions = activity(&s)
        .await
        .into_iter()
        .filter(|e| e["event"] == "decision_received")
        .count();
    assert_eq!(decisions, 1, "the second press recorded nothing");
    assert_eq!(decided["channel"], "slack");
    assert!(!s.server.output().contains("slack-signing"));
}

#[tokio::test]
async fn slack_compat_mode_without_signing_secret_says_so_in_test() {
    let slack = fake_slack().await;
    let s = start(Some(&slack)).await;
    let id = connector(
        &s,
        json!({"name": "compat", "type": "slack", "endpoint": "C0123456789",
        "headers": {"X-Slack-Bot-Token": "xoxb-test"}}),
    )
    .await;
    let (_, report) = s
        .server
        .client()
        .send("POST", &format!("/approval-connectors/{id}/test"), None)
        .await;
    assert!(
        report
            .to_string()
            .contains("compat mode: requests are not signature-verified"),
        "{report}"
    );
}

/// A webhook receiver that checks our signature with the shared secret.
async fn fake_receiver() -> Fake {
    fake(|_, headers, _| {
        // The signature is checked by the test on the raw body; here only its presence.
        if headers.get("x-runagents-signature").is_none() {
            return (401, json!({"error": "unsigned"}));
        }
        (200, json!({"received": true}))
    })
    .await
}

#[tokio::test]
async fn webhook_receiver_approves_through_a_signed_single_use_link() {
    let receiver = fake_receiver().await;
    let s = start(None).await;
    let id = connector(&s, json!({"name": "release-hook", "type": "webhook", "endpoint": format!("{}/hook", receiver.url),
        "headers": {"X-Webhook-Secret": "whsec-123", "Authorization": "Bearer hook-token"}})).await;
    let request_id = block(&s, &s.run_id, 250).await;
    let delivered = receiver.wait_for("/hook", 1).await;
    let delivery = &delivered[0];
    let signature = delivery.headers["x-runagents-signature"].to_str().unwrap();
    verify_webhook_signature("whsec-123", signature, &delivery.raw, Timestamp::now()).unwrap();
    assert!(verify_webhook_signature("other", signature, &delivery.raw, Timestamp::now()).is_err());
    assert_eq!(delivery.headers["authorization"], "Bearer hook-token");
    assert!(
        delivery.headers.get("x-webhook-secret").is_none(),
        "the secret is never sent"
    );
    let body = &delivery.body;
    assert_eq!(body["type"], "approval.requested");
    assert_eq!(body["request"]["id"], request_id.as_str());
    for key in [
        "agent",
        "tool",
        "capability",
        "method",
        "url",
        "user",
        "run_id",
        "payload_hash",
    ] {
        assert!(
            !body["request"][key].as_str().unwrap().is_empty(),
            "{key}: {body}"
        );
    }
    assert!(!body["expires_at"].as_str().unwrap().is_empty());
    let approve = body["links"]["approve_once"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();

    // A forged link decides nothing.
    let (head, _) = approve.rsplit_once('.').unwrap();
    let forged = format!("{head}.{}", "0".repeat(64));
    let response = client.post(&forged).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    // Opening the link (a scanner, a preview) only shows a confirmation page.
    let page = client.get(&approve).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("<form method=\"post\">")
    );
    assert_eq!(request(&s, &request_id).await["status"], "PENDING");

    let response = client
        .post(&approve)
        .json(&json!({"approver": "bob@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let decided: Value = response.json().await.unwrap();
    assert_eq!(
        (
            decided["status"].as_str(),
            decided["scope"].as_str(),
            decided["approver_id"].as_str()
        ),
        (Some("APPROVED"), Some("once"), Some("bob@example.com"))
    );
    wait_run(&s, &s.run_id, "RUNNING").await;
    assert_eq!(charges_seen(&s), 1);
    assert_eq!(decided["channel"], "webhook");
    // The same link again (a retried callback) answers the decided request; the reject link
    // of a decided request is refused.
    let again = client.post(&approve).json(&json!({})).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["approver_id"], "bob@example.com");
    let reject = body["links"]["reject"].as_str().unwrap();
    assert_eq!(
        client.post(reject).send().await.unwrap().status().as_u16(),
        409
    );

    let received = wait_activity(&s, "decision_received", &id).await;
    assert_eq!(received["approver_id"], "bob@example.com");
    let followups = receiver.wait_for("/hook", 2).await;
    assert_eq!(followups[1].body["type"], "approval.decided");
    assert_eq!(followups[1].body["request"]["decision"], "approved");
}

#[tokio::test]
async fn a_connector_down_is_logged_retried_and_nothing_is_lost() {
    let receiver = fake_receiver().await;
    receiver.set_status(503);
    let s = start(None).await;
    let id = connector(
        &s,
        json!({"name": "flaky", "endpoint": format!("{}/hook", receiver.url), "timeout_seconds": 2,
        "headers": {"X-Webhook-Secret": "whsec"}}),
    )
    .await;
    let request_id = block(&s, &s.run_id, 300).await;
    let failed = wait_activity(&s, "dispatch_failed", &id).await;
    assert_eq!(failed["status_code"], 503);
    assert_eq!(failed["request_id"], request_id.as_str());
    assert!(
        failed["message"].as_str().unwrap().contains("will retry"),
        "{failed}"
    );
    let (_, queue) = s.server.client().get("/approvals/requests").await;
    assert!(
        queue
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == request_id.as_str()),
        "still in the console queue"
    );
    receiver.set_status(200);
    let succeeded = wait_activity(&s, "dispatch_succeeded", &id).await;
    assert_eq!(succeeded["status_code"], 200);
    assert_eq!(
        receiver
            .seen("/hook")
            .iter()
            .filter(|r| r.body["type"] == "approval.requested")
            .count(),
        2
    );
}

#[tokio::test]
async fn first_success_stops_at_the_first_delivery_and_all_reaches_every_connector() {
    let teams = fake_ok().await;
    let pagerduty = fake_pagerduty().await;
    let s = start(None).await;
    let api = s.server.client();
    let teams_id = connector(
        &s,
        json!({"name": "teams", "type": "teams", "endpoint": format!("{}/webhookb2/x", teams.url)}),
    )
    .await;
    let pd_id = connector(&s, json!({"name": "pager", "type": "pagerduty", "endpoint": format!("{}/v2/enqueue", pagerduty.url),
        "headers": {"X-PagerDuty-Routing-Key": "pd-routing-key"}})).await;
    // Routing by name: pager first, then teams; first_success.
    let (status, body) = api.put("/policies/stripe-guarded", json!({"spec": {"policies": [
            {"permission": "approval_required", "operations": ["POST"], "resource": format!("{}/*", s.upstream_url)}],
        "approvals": [{"name": "writes", "operations": ["POST"], "delivery": {"connectors": ["pager", "teams"], "mode": "first_success"}}]}})).await;
    assert_eq!(status, 200, "{body}");
    let first = block(&s, &s.run_id, 1).await;
    let triggered = pagerduty.wait_for("/v2/enqueue", 1).await;
    assert_eq!(triggered[0].body["event_action"], "trigger");
    assert_eq!(triggered[0].body["dedup_key"], format!("runagents-{first}"));
    assert_eq!(triggered[0].body["links"].as_array().unwrap().len(), 4);
    wait_activity(&s, "dispatch_succeeded", &pd_id).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        teams.seen("/webhookb2/x").is_empty(),
        "first_success: teams skipped"
    );

    // Decided in the console: PagerDuty resolves the incident.
    let (status, _) = api
        .post(
            &format!("/approvals/requests/{first}/reject"),
            json!({"reason": "no"}),
        )
        .await;
    assert_eq!(status, 200);
    let events = pagerduty.wait_for("/v2/enqueue", 2).await;
    assert_eq!(events[1].body["event_action"], "resolve");
    assert_eq!(events[1].body["dedup_key"], format!("runagents-{first}"));

    // The same rule with mode all, on a new run: both receive it.
    api.put("/policies/stripe-guarded", json!({"spec": {"policies": [
            {"permission": "approval_required", "operations": ["POST"], "resource": format!("{}/*", s.upstream_url)}],
        "approvals": [{"name": "writes", "operations": ["POST"], "delivery": {"connectors": ["pager", "teams"], "mode": "all"}}]}})).await;
    let (_, run) = api
        .post(
            "/runs",
            json!({"agent_id": "billing", "user_id": "carol@example.com"}),
        )
        .await;
    let second = block(&s, run["id"].as_str().unwrap(), 2).await;
    let cards = teams.wait_for("/webhookb2/x", 1).await;
    let card = &cards[0].body["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let actions = card["content"]["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 4);
    assert!(
        actions[0]["url"]
            .as_str()
            .unwrap()
            .contains("/approvals/decide/")
    );
    let events = pagerduty.wait_for("/v2/enqueue", 3).await;
    assert_eq!(events[2].body["dedup_key"], format!("runagents-{second}"));
    wait_activity(&s, "dispatch_succeeded", &teams_id).await;
}

#[tokio::test]
async fn undelivered_dispatches_are_delivered_after_a_restart() {
    let receiver = fake_receiver().await;
    receiver.set_status(503);
    let s = start(None).await;
    let id = connector(
        &s,
        json!({"name": "later", "endpoint": format!("{}/hook", receiver.url),
        "headers": {"X-Webhook-Secret": "whsec"}}),
    )
    .await;
    let request_id = block(&s, &s.run_id, 400).await;
    wait_activity(&s, "dispatch_failed", &id).await;
    let Setup {
        server,
        upstream,
        upstream_url,
        tool_url,
        credential,
        run_id,
    } = s;
    let server = server.restart().await;
    receiver.set_status(200);
    let s = Setup {
        server,
        upstream,
        upstream_url,
        tool_url,
        credential,
        run_id,
    };
    let succeeded = wait_activity(&s, "dispatch_succeeded", &id).await;
    assert_eq!(succeeded["request_id"], request_id.as_str());
    assert_eq!(request(&s, &request_id).await["status"], "PENDING");
}

fn buttons(message: &Value) -> Vec<Value> {
    message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap()["elements"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_slack_press_outside_the_approver_groups_is_refused_to_the_presser_and_changes_nothing() {
    let slack = fake_slack().await;
    let s = start(Some(&slack)).await;
    crate::approvals::finance_rule(&s, "any").await;
    let id = connector(&s, json!({"name": "secops-slack", "type": "slack", "endpoint": "C0123456789", "slack_security_mode": "strict",
        "headers": {"X-Slack-Bot-Token": "xoxb-test", "X-Slack-Signing-Secret": "slack-signing"},
        "approver_map": {"U123ALICE": {"subject": "alice@example.com", "groups": ["finance"]}}}))
    .await;
    let (_, view) = s
        .server
        .client()
        .get(&format!("/approval-connectors/{id}"))
        .await;
    assert_eq!(
        view["approver_map"]["U123ALICE"],
        json!({"subject": "alice@example.com", "groups": ["finance"]})
    );
    let request_id = block(&s, &s.run_id, 100).await;
    let posted = slack.wait_for("/chat.postMessage", 1).await;
    let value = buttons(&posted[0].body)[0]["value"]
        .as_str()
        .unwrap()
        .to_owned();

    // Eve is not mapped: she decides as slack:U999EVE with no groups.
    let response_url = format!("{}/actions/T0001/42/eve", slack.url);
    let press = slack_press_by(
        "U999EVE",
        &response_url,
        &value,
        "approve_once",
        now_secs(),
        "slack-signing",
    );
    let (status, answer) = post_slack_answer(&s, &press).await;
    assert_eq!(status, 200, "Slack is acknowledged: {answer}");
    assert_eq!(
        (
            answer["response_type"].as_str(),
            answer["replace_original"].as_bool()
        ),
        (Some("ephemeral"), Some(false))
    );
    let text = answer["text"].as_str().unwrap();
    assert!(
        text.starts_with("You can't decide this request: only approvers in any of the groups \"finance\", \"treasury\"")
            && text.contains("slack:U999EVE is in none of them"),
        "{text}"
    );
    let told = slack.wait_for("/actions/T0001/42/eve", 1).await;
    assert_eq!(told[0].body["response_type"], "ephemeral");
    assert_eq!(told[0].body["text"], text);
    let refused = wait_activity(&s, "decision_refused", &id).await;
    assert_eq!(refused["approver_id"], "slack:U999EVE");
    let unchanged = request(&s, &request_id).await;
    assert_eq!(
        (
            unchanged["status"].as_str(),
            unchanged["approver_id"].as_str()
        ),
        (Some("PENDING"), Some(""))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        slack.seen("/chat.update").is_empty(),
        "the message still has its buttons"
    );
    assert_eq!(charges_seen(&s), 0);

    // Alice is mapped into finance: her press decides, as her.
    let press = slack_press(&value, "approve_once", now_secs(), "slack-signing");
    let (status, answer) = post_slack_answer(&s, &press).await;
    assert_eq!((status, answer), (200, Value::Null));
    let decided = request(&s, &request_id).await;
    assert_eq!(
        (
            decided["status"].as_str(),
            decided["approver_id"].as_str(),
            decided["channel"].as_str()
        ),
        (Some("APPROVED"), Some("alice@example.com"), Some("slack"))
    );
    let updated = slack.wait_for("/chat.update", 1).await;
    assert!(
        updated[0].body["text"]
            .as_str()
            .unwrap()
            .contains("Approved once by alice@example.com (slack)"),
        "{}",
        updated[0].body
    );
    // Rejecting what is approved changes nothing either; she is told so.
    let press = slack_press(&value, "reject", now_secs(), "slack-signing");
    let (status, answer) = post_slack_answer(&s, &press).await;
    assert_eq!(status, 200);
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("is already approved by alice@example.com"),
        "{answer}"
    );
    assert_eq!(request(&s, &request_id).await["status"], "APPROVED");
    let decisions: Vec<Value> = activity(&s)
        .await
        .into_iter()
        .filter(|e| e["event"] == "decision_received")
        .collect();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
}

/// Issue numbers the fake Jira hands out.
static JIRA_ISSUES: AtomicU16 = AtomicU16::new(0);

/// Jira Cloud's REST API v2: create issue (answers its id and key) and add comment; basic
/// auth must be `jira:token`.
async fn fake_jira() -> Fake {
    fake(|path, headers, body| {
        if headers.get("authorization").and_then(|v| v.to_str().ok())
            != Some("Basic amlyYTp0b2tlbg==")
        {
            return (
                401,
                json!({"errorMessages": ["You are not authenticated."]}),
            );
        }
        match path {
            "/rest/api/2/issue" if body["fields"]["project"]["key"] == "OPS" => {
                let n = JIRA_ISSUES.fetch_add(1, Ordering::SeqCst) + 1;
                (
                    201,
                    json!({"id": format!("{}", 10000 + n), "key": format!("OPS-{n}"),
                    "self": format!("https://acme.atlassian.net/rest/api/2/issue/{}", 10000 + n)}),
                )
            }
            comment
                if comment.starts_with("/rest/api/2/issue/OPS-")
                    && comment.ends_with("/comment") =>
            {
                (201, json!({"id": "20000", "body": body["body"]}))
            }
            _ => (400, json!({"errorMessages": ["bad request"]})),
        }
    })
    .await
}

/// `jira:issue_updated` as Jira sends it when `account` moves `key` to `status`.
fn jira_transition(key: &str, account: &str, status: &str) -> Value {
    json!({"timestamp": Timestamp::now().millis(), "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_generic",
        "user": {"self": "https://acme.atlassian.net/rest/api/2/user?accountId=x", "accountId": account, "displayName": account, "active": true},
        "issue": {"id": "10001", "key": key, "fields": {"summary": "Approval required", "status": {"name": status}}},
        "changelog": {"id": "10100", "items": [{"field": "status", "fieldtype": "jira", "fieldId": "status",
            "from": "10000", "fromString": "To Do", "to": "10001", "toString": status}]}})
}

/// Jira's admin webhook with a secret: `X-Hub-Signature: sha256=<hmac of the body>`.
async fn jira_sends(url: &str, secret: Option<&str>, payload: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(payload).unwrap();
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-atlassian-webhook-identifier", "1234");
    if let Some(secret) = secret {
        request = request.header(
            "x-hub-signature",
            runagents_domain::dispatch::jira_signature(secret, &body),
        );
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_jira_transition_decides_once_as_its_mapped_approver_and_decided_elsewhere_is_commented()
{
    let jira = fake_jira().await;
    let s = start(None).await;
    crate::approvals::finance_rule(&s, "any").await;
    let id = connector(&s, json!({"name": "ops-jira", "type": "jira", "endpoint": jira.url,
        "headers": {"Authorization": "Basic amlyYTp0b2tlbg==", "X-Jira-Project": "OPS", "X-Jira-Webhook-Secret": "jira-secret"},
        "approve_transitions": ["Approved", "Done"], "reject_transitions": ["Rejected", "Won't Do"],
        "approver_map": {"acct-ann": {"subject": "ann@example.com", "groups": ["finance"]}}}))
    .await;
    let (_, view) = s
        .server
        .client()
        .get(&format!("/approval-connectors/{id}"))
        .await;
    let webhook = view["webhook_url"].as_str().unwrap().to_owned();
    assert_eq!(
        webhook,
        format!("{}/integrations/jira/default/{id}", s.server.url)
    );
    assert_eq!(view["headers"]["X-Jira-Webhook-Secret"], "********");

    let request_id = block(&s, &s.run_id, 100).await;
    let created = jira.wait_for("/rest/api/2/issue", 1).await;
    let issue = &created[0];
    assert_eq!(issue.body["fields"]["issuetype"]["name"], "Task");
    assert!(
        issue.headers.get("x-jira-webhook-secret").is_none(),
        "the secret is never sent"
    );
    assert!(issue.headers.get("x-jira-project").is_none());
    wait_activity(&s, "dispatch_succeeded", &id).await;
    let key = format!("OPS-{}", JIRA_ISSUES.load(Ordering::SeqCst));

    // Only Jira, with the secret, is heard.
    let done = jira_transition(&key, "acct-ann", "Done");
    assert_eq!(jira_sends(&webhook, None, &done).await.0, 403);
    assert_eq!(
        jira_sends(&webhook, Some("not-the-secret"), &done).await.0,
        403
    );
    let elsewhere = webhook.replace(&id, "ac_nope");
    assert_eq!(
        jira_sends(&elsewhere, Some("jira-secret"), &done).await.0,
        403
    );
    // Other changes are not decisions.
    let mut edited = done.clone();
    edited["changelog"]["items"] = json!([{"field": "summary", "toString": "x"}]);
    let (status, answer) = jira_sends(&webhook, Some("jira-secret"), &edited).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("ignored")));
    let started = jira_transition(&key, "acct-ann", "In Progress");
    let (status, answer) = jira_sends(&webhook, Some("jira-secret"), &started).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("ignored")),
        "{answer}"
    );
    let stranger = jira_transition("OPS-999", "acct-ann", "Done");
    let (status, answer) = jira_sends(&webhook, Some("jira-secret"), &stranger).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("ignored")),
        "{answer}"
    );
    // Eve is not mapped: refused, nothing changes.
    let (status, answer) = jira_sends(
        &webhook,
        Some("jira-secret"),
        &jira_transition(&key, "acct-eve", "Done"),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("jira:acct-eve is in none of them"),
        "{answer}"
    );
    assert_eq!(request(&s, &request_id).await["status"], "PENDING");
    assert_eq!(
        wait_activity(&s, "decision_refused", &id).await["approver_id"],
        "jira:acct-eve"
    );

    // Ann moves it to Done: approved once, as her, from Jira.
    let (status, answer) = jira_sends(&webhook, Some("jira-secret"), &done).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("approved")),
        "{answer}"
    );
    assert_eq!(answer["request_id"], request_id.as_str());
    let decided = request(&s, &request_id).await;
    assert_eq!(
        (
            decided["status"].as_str(),
            decided["scope"].as_str(),
            decided["approver_id"].as_str(),
            decided["channel"].as_str()
        ),
        (
            Some("APPROVED"),
            Some("once"),
            Some("ann@example.com"),
            Some("jira")
        )
    );
    assert_eq!(decided["reason"], format!("{key} moved to Done in Jira"));
    wait_run(&s, &s.run_id, "RUNNING").await;
    assert_eq!(charges_seen(&s), 1);
    // Jira retries the same delivery: nothing twice.
    let (status, answer) = jira_sends(&webhook, Some("jira-secret"), &done).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("already_decided"))
    );
    let comments = jira
        .wait_for(&format!("/rest/api/2/issue/{key}/comment"), 1)
        .await;
    assert_eq!(
        comments[0].body["body"],
        format!("Approved once by ann@example.com (jira): {key} moved to Done in Jira")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        jira.seen(&format!("/rest/api/2/issue/{key}/comment")).len(),
        1
    );
    let received: Vec<Value> = activity(&s)
        .await
        .into_iter()
        .filter(|e| e["event"] == "decision_received")
        .collect();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["approver_id"], "ann@example.com");

    // Decided elsewhere (the API): the issue says so, and a later transition changes nothing.
    let ann = s
        .server
        .client()
        .with_key(&crate::approvals::key_for(&s, "ann", "ann@example.com", &["finance"]).await);
    let (_, run) = s
        .server
        .client()
        .post(
            "/runs",
            json!({"agent_id": "billing", "user_id": "carol@example.com"}),
        )
        .await;
    let second = block(&s, run["id"].as_str().unwrap(), 200).await;
    jira.wait_for("/rest/api/2/issue", 2).await;
    let second_key = format!("OPS-{}", JIRA_ISSUES.load(Ordering::SeqCst));
    wait_for_deliveries(&s, &id, 2).await;
    let (status, _) = ann
        .post(
            &format!("/approvals/requests/{second}/reject"),
            json!({"reason": "not this month"}),
        )
        .await;
    assert_eq!(status, 200);
    let comments = jira
        .wait_for(&format!("/rest/api/2/issue/{second_key}/comment"), 1)
        .await;
    assert_eq!(
        comments[0].body["body"],
        "Rejected by ann@example.com (api): not this month"
    );
    let (status, answer) = jira_sends(
        &webhook,
        Some("jira-secret"),
        &jira_transition(&second_key, "acct-ann", "Approved"),
    )
    .await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("conflict")),
        "{answer}"
    );
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("already rejected by ann@example.com"),
        "{answer}"
    );
    assert_eq!(request(&s, &second).await["status"], "REJECTED");
}

/// Waits until `count` deliveries of the connector succeeded.
async fn wait_for_deliveries(s: &Setup, connector: &str, count: usize) {
    for _ in 0..400 {
        let delivered = activity(s)
            .await
            .into_iter()
            .filter(|e| e["event"] == "dispatch_succeeded" && e["connector_id"] == connector)
            .count();
        if delivered >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {count} deliveries for {connector}");
}

#[tokio::test]
async fn pagerduty_resolves_when_decided_and_again_when_the_approval_window_expires() {
    let pagerduty = fake_pagerduty().await;
    let receiver = fake_receiver().await;
    let s = start(None).await;
    let api = s.server.client();
    connector(&s, json!({"name": "pager", "type": "pagerduty", "endpoint": format!("{}/v2/enqueue", pagerduty.url),
        "headers": {"X-PagerDuty-Routing-Key": "pd-routing-key"}})).await;
    connector(&s, json!({"name": "hook", "endpoint": format!("{}/hook", receiver.url), "headers": {"X-Webhook-Secret": "whsec"}})).await;
    let (status, body) = api.put("/policies/stripe-guarded", json!({"spec": {"policies": [
            {"permission": "approval_required", "operations": ["POST"], "resource": format!("{}/*", s.upstream_url)}],
        "approvals": [{"name": "writes", "operations": ["POST"], "delivery": {"connectors": ["pager", "hook"], "mode": "all"}}]}})).await;
    assert_eq!(status, 200, "{body}");
    let request_id = block(&s, &s.run_id, 5).await;
    let dedup_key = format!("runagents-{request_id}");
    assert_eq!(
        pagerduty.wait_for("/v2/enqueue", 1).await[0].body["event_action"],
        "trigger"
    );
    receiver.wait_for("/hook", 1).await;

    let (status, approved) = api
        .post(
            &format!("/approvals/requests/{request_id}/approve"),
            json!({"scope": "window", "duration": "1s"}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    let events = pagerduty.wait_for("/v2/enqueue", 2).await;
    assert_eq!(
        (
            events[1].body["event_action"].as_str(),
            events[1].body["dedup_key"].as_str()
        ),
        (Some("resolve"), Some(dedup_key.as_str()))
    );

    // The window ends: the request expires and the connectors hear of it through the outbox.
    let events = pagerduty.wait_for("/v2/enqueue", 3).await;
    assert_eq!(events[2].body["event_action"], "resolve");
    assert_eq!(events[2].body["dedup_key"], dedup_key.as_str());
    assert_eq!(events[2].body["routing_key"], "pd-routing-key");
    assert_eq!(request(&s, &request_id).await["status"], "EXPIRED");
    let hooks = receiver.wait_for("/hook", 3).await;
    let kinds: Vec<&str> = hooks
        .iter()
        .map(|h| h.body["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["approval.requested", "approval.decided", "approval.expired"]
    );
    assert_eq!(hooks[2].body["request"]["decision"], "expired");
    assert_eq!(hooks[2].body["request"]["approver_id"], "bootstrap-admin");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(pagerduty.seen("/v2/enqueue").len(), 3, "expired once");
}

#[tokio::test]
async fn a_decision_link_decides_as_its_connectors_link_approver_and_a_refusal_keeps_it_usable() {
    let teams = fake_ok().await;
    let s = start(None).await;
    crate::approvals::finance_rule(&s, "any").await;
    let id = connector(
        &s,
        json!({"name": "teams", "type": "teams", "endpoint": format!("{}/webhookb2/x", teams.url)}),
    )
    .await;
    let request_id = block(&s, &s.run_id, 7).await;
    let cards = teams.wait_for("/webhookb2/x", 1).await;
    let actions = cards[0].body["attachments"][0]["content"]["actions"]
        .as_array()
        .unwrap()
        .clone();
    let approve = actions[0]["url"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();

    // The holder of a Teams link is `link:teams`, with no groups: refused, as a page for the
    // form and as JSON for a callback; the link is not used up.
    let page = client
        .post(&approve)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 403);
    let text = page.text().await.unwrap();
    assert!(
        text.contains("Decision not recorded") && text.contains("link:teams is in none of them"),
        "{text}"
    );
    assert_eq!(request(&s, &request_id).await["status"], "PENDING");
    assert_eq!(
        wait_activity(&s, "decision_refused", &id).await["approver_id"],
        "link:teams"
    );

    // The admin gives the connector's links an approver in finance: the same link now decides.
    let (status, body) = s
        .server
        .client()
        .patch(
            &format!("/approval-connectors/{id}"),
            json!({"link_approver": {"subject": "finance-teams-channel", "groups": ["finance"]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let response = client.post(&approve).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let decided: Value = response.json().await.unwrap();
    assert_eq!(
        (
            decided["status"].as_str(),
            decided["approver_id"].as_str(),
            decided["channel"].as_str()
        ),
        (
            Some("APPROVED"),
            Some("finance-teams-channel"),
            Some("teams")
        )
    );
}
