use std::collections::HashMap;

use serde_json::json;

use super::*;
use crate::identity_provider::IdentityProviderInput;

const KEY: &[u8] = b"sso signing key for tests";

fn input(body: Value) -> ConsoleSsoInput {
    ConsoleSsoInput::parse(body.clone()).unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn sso() -> ConsoleSso {
    input(json!({
        "identity_provider": "corp",
        "client_id": "console-client",
        "client_secret": "s3cret",
        "authorization_endpoint": "https://login.example.com/authorize",
        "token_endpoint": "https://login.example.com/token",
        "admin_groups": ["platform-admins"],
    }))
    .sso
}

fn provider(allowed_domains: &[&str]) -> IdentityProviderSpec {
    IdentityProviderInput::parse(json!({"name": "corp", "spec": {
        "host": "console.example.com",
        "identityProvider": {"issuer": "https://login.example.com/", "jwksUri": "https://login.example.com/jwks",
            "audiences": ["some-agent-client"]},
        "allowedDomains": allowed_domains,
    }}))
    .unwrap()
    .spec
}

fn claims(extra: Value) -> Map<String, Value> {
    let mut claims = json!({
        "iss": "https://login.example.com/", "aud": "console-client", "sub": "00u1",
        "email": "alice@example.com", "name": "Alice Example", "nonce": "the-nonce",
        "groups": ["ops", "platform-admins"], "iat": 1_000, "exp": 1_300,
    });
    for (name, value) in extra.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims.as_object().unwrap().clone()
}

fn person(extra: Value) -> Result<Person, Refusal> {
    person_from_id_token(
        &claims(extra),
        "corp",
        &provider(&[]),
        &sso(),
        "the-nonce",
        1_100,
    )
}

#[test]
fn reads_the_setting_with_its_defaults() {
    let parsed = input(json!({"identity_provider": "corp", "client_id": "c1"}));
    assert_eq!(parsed.client_secret, None);
    let sso = parsed.sso;
    assert!(sso.enabled && sso.discovered);
    assert_eq!(sso.scopes, ["openid", "email", "profile"]);
    assert_eq!(sso.groups_claim, "groups");
    assert_eq!(
        (
            sso.authorization_endpoint.as_str(),
            sso.token_endpoint.as_str()
        ),
        ("", "")
    );
    assert_eq!(sso.token_endpoint_auth, TokenAuth::ClientSecretPost);
    assert_eq!(sso.label(), "corp");
    assert_eq!(
        sso.redirect_uri("http://127.0.0.1:8092/"),
        "http://127.0.0.1:8092/console/oidc/callback"
    );

    let parsed = input(json!({
        "identityProvider": "corp", "clientId": "c1", "clientSecret": " s ",
        "scopes": "email groups email", "groupsClaim": "roles", "adminGroups": [" a ", "a", "b"],
        "redirectUri": "https://console.example.com/console/oidc/callback",
        "displayName": "Corp SSO", "enabled": false,
        "token_endpoint_auth_method": "client_secret_basic",
        "authorization_endpoint": "https://l/authorize", "token_endpoint": "https://l/token",
    }));
    assert_eq!(parsed.client_secret.as_ref().map(Secret::expose), Some("s"));
    let sso = parsed.sso;
    assert!(!sso.enabled && !sso.discovered);
    assert_eq!(sso.scopes, ["openid", "email", "groups"]);
    assert_eq!(sso.groups_claim, "roles");
    assert_eq!(sso.admin_groups, ["a", "b"]);
    assert_eq!(sso.token_endpoint_auth, TokenAuth::ClientSecretBasic);
    assert_eq!(sso.label(), "Corp SSO");
    assert_eq!(
        sso.redirect_uri("http://127.0.0.1:8092"),
        "https://console.example.com/console/oidc/callback"
    );
    // The secret is not part of what is stored as the setting's body.
    let stored = serde_json::to_string(&sso).unwrap();
    assert!(
        !stored.contains("secret\":") && !stored.contains("\"s\""),
        "{stored}"
    );
}

#[test]
fn refuses_incomplete_or_malformed_settings() {
    for (body, message) in [
        (json!({"client_id": "c"}), "identity_provider is required"),
        (
            json!({"identity_provider": "corp"}),
            "client_id is required",
        ),
        (
            json!({"identity_provider": "Not A Name", "client_id": "c"}),
            "identity_provider",
        ),
        (
            json!({"identity_provider": "corp", "client_id": "c", "token_endpoint": "https://l/t"}),
            "give both",
        ),
        (
            json!({"identity_provider": "corp", "client_id": "c", "authorization_endpoint": "ftp://x", "token_endpoint": "https://l/t"}),
            "authorization_endpoint",
        ),
        (
            json!({"identity_provider": "corp", "client_id": "c", "token_endpoint_auth_method": "private_key_jwt"}),
            "not supported",
        ),
        (
            json!({"identity_provider": "corp", "client_id": "c", "admin_groups": [""]}),
            "admin_groups",
        ),
        (
            json!({"identity_provider": "corp", "client_id": "c", "enabled": "yes"}),
            "enabled",
        ),
        (json!(["x"]), "JSON object"),
    ] {
        let error = ConsoleSsoInput::parse(body.clone()).unwrap_err();
        assert!(error.0.contains(message), "{body}: {error}");
    }
}

#[test]
fn discovery_must_be_the_providers_own() {
    let document = json!({
        "issuer": "https://login.example.com",
        "authorization_endpoint": "https://login.example.com/authorize",
        "token_endpoint": "https://login.example.com/token",
        "jwks_uri": "https://elsewhere.example.com/keys",
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    });
    assert_eq!(
        discovery_url("https://login.example.com/"),
        "https://login.example.com/.well-known/openid-configuration"
    );
    let found = read_discovery(
        document.to_string().as_bytes(),
        "https://login.example.com/",
    )
    .unwrap();
    assert_eq!(
        found,
        Discovered {
            authorization_endpoint: "https://login.example.com/authorize".into(),
            token_endpoint: "https://login.example.com/token".into(),
            token_endpoint_auth: TokenAuth::ClientSecretPost,
        }
    );
    let mut basic = document.clone();
    basic["token_endpoint_auth_methods_supported"] = json!(["client_secret_basic"]);
    let found = read_discovery(basic.to_string().as_bytes(), "https://login.example.com").unwrap();
    assert_eq!(found.token_endpoint_auth, TokenAuth::ClientSecretBasic);
    let error =
        read_discovery(document.to_string().as_bytes(), "https://evil.example.com").unwrap_err();
    assert!(error.0.contains("not the identity provider's"), "{error}");
    let mut missing = document;
    missing["token_endpoint"] = json!(null);
    let error =
        read_discovery(missing.to_string().as_bytes(), "https://login.example.com").unwrap_err();
    assert!(error.0.contains("no token_endpoint"), "{error}");
    assert!(read_discovery(b"<html>", "https://login.example.com").is_err());
}

#[test]
fn the_state_is_signed_expiring_and_bound_to_its_browser() {
    let state = SignInState::new("default", "n1".into(), Timestamp(1_000));
    assert_eq!(state.expires_at, 1_000 + STATE_TTL_SECONDS * 1000);
    let signed = state.sign(KEY);
    assert_eq!(
        SignInState::verify(&signed, KEY, Timestamp(2_000)).unwrap(),
        state
    );
    let expired = SignInState::verify(&signed, KEY, Timestamp(state.expires_at)).unwrap_err();
    assert!(expired.0.contains("10 minutes"), "{expired}");
    assert!(SignInState::verify(&signed, b"another key", Timestamp(2_000)).is_err());
    // Another workspace under the old signature.
    let mut other = state.clone();
    other.workspace = "other".into();
    let forged = format!(
        "{}.{}",
        other.sign(KEY).split_once('.').unwrap().0,
        signed.split_once('.').unwrap().1
    );
    let refused = SignInState::verify(&forged, KEY, Timestamp(2_000)).unwrap_err();
    assert!(refused.0.contains("altered"), "{refused}");
    for garbage in ["", "x", "a.b", "%%.%%"] {
        assert!(SignInState::verify(garbage, KEY, Timestamp(2_000)).is_err());
    }
    // What derives from the nonce is distinct, keyed, and the binding checks in constant time.
    let binding = state.browser_binding(KEY);
    let derived = [
        binding.clone(),
        state.id_token_nonce(KEY),
        state.pkce_verifier(KEY),
    ];
    assert!(derived[0] != derived[1] && derived[1] != derived[2] && derived[0] != derived[2]);
    assert_eq!(state.pkce_verifier(KEY).len(), 43);
    assert!(state.bound_to(KEY, &binding));
    assert!(!state.bound_to(b"another key", &binding));
    assert!(!state.bound_to(KEY, ""));
    let other_sign_in = SignInState::new("default", "n2".into(), Timestamp(1_000));
    assert!(!other_sign_in.bound_to(KEY, &binding));
}

#[test]
fn the_authorization_url_asks_for_a_code_with_pkce_and_the_nonce() {
    let state = SignInState::new("default", "n1".into(), Timestamp::now());
    let url = state
        .authorization_url(&sso(), "http://127.0.0.1:8092/console/oidc/callback", KEY)
        .unwrap();
    let parsed = url::Url::parse(&url).unwrap();
    assert_eq!(parsed.path(), "/authorize");
    let query: HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], "console-client");
    assert_eq!(
        query["redirect_uri"],
        "http://127.0.0.1:8092/console/oidc/callback"
    );
    assert_eq!(query["scope"], "openid email profile");
    assert_eq!(query["nonce"], state.id_token_nonce(KEY));
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(
        query["code_challenge"],
        oauth::pkce_challenge(&state.pkce_verifier(KEY))
    );
    assert_eq!(
        SignInState::verify(&query["state"], KEY, Timestamp::now()).unwrap(),
        state
    );
    assert!(
        !url.contains("s3cret"),
        "the client secret stays out of the URL"
    );
}

#[test]
fn an_id_token_for_this_sign_in_gives_the_person() {
    let alice = person(json!({})).unwrap();
    assert_eq!(
        alice,
        Person {
            subject: "alice@example.com".into(),
            name: "Alice Example".into(),
            email: "alice@example.com".into(),
            groups: vec!["ops".into(), "platform-admins".into()],
        }
    );
    assert!(sso().is_admin(&alice.groups));
    assert!(!sso().is_admin(&["ops".to_owned()]));
    // An audience list naming the client, with azp the client, is fine; no name → the subject.
    let bob = person(
        json!({"aud": ["console-client", "api"], "azp": "console-client",
        "email": "bob@example.com", "name": null, "groups": "ops"}),
    )
    .unwrap();
    assert_eq!(
        (bob.name.as_str(), bob.groups.as_slice()),
        ("bob@example.com", ["ops".to_owned()].as_slice())
    );
    let none = person(json!({"groups": null})).unwrap();
    assert!(none.groups.is_empty());
}

#[test]
fn id_tokens_for_anything_else_are_refused() {
    for (extra, refusal) in [
        (json!({"aud": "some-agent-client"}), "wrong audience"),
        (json!({"aud": null}), "wrong audience"),
        (
            json!({"aud": ["console-client", "other"], "azp": "other"}),
            "wrong audience",
        ),
        (json!({"iss": "https://evil.example.com/"}), "wrong issuer"),
        (json!({"nonce": "another"}), "bad nonce"),
        (json!({"nonce": null}), "bad nonce"),
        (json!({"exp": 1_000}), "expired"),
        (json!({"nbf": 1_300}), "not valid yet"),
        (json!({"email": null}), "\"email\" claim"),
        (json!({"groups": {"a": 1}}), "not a list of group names"),
        (json!({"groups": ["a", 1]}), "not a list of group names"),
    ] {
        let error = person(extra.clone()).unwrap_err().to_string();
        assert!(error.contains(refusal), "{extra}: {error}");
    }
    let many: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
    let error = person(json!({ "groups": many })).unwrap_err();
    assert_eq!(error, Refusal::TooManyGroups(MAX_GROUPS + 1));
    // Overlong names are dropped rather than counted.
    let long = "x".repeat(MAX_GROUP_CHARS + 1);
    assert_eq!(
        person(json!({"groups": [long, "ops"]})).unwrap().groups,
        ["ops"]
    );
    // The provider's allowedDomains apply to operators too.
    let error = person_from_id_token(
        &claims(json!({})),
        "corp",
        &provider(&["acme.com"]),
        &sso(),
        "the-nonce",
        1_100,
    )
    .unwrap_err();
    assert!(error.to_string().contains("domain not allowed"), "{error}");
}

#[test]
fn the_fingerprint_follows_provider_and_client() {
    let first = fingerprint(KEY, &sso());
    assert_eq!(first, fingerprint(KEY, &sso()));
    let mut other = sso();
    other.client_id = "another".into();
    assert_ne!(first, fingerprint(KEY, &other));
    let mut other = sso();
    other.identity_provider = "other".into();
    assert_ne!(first, fingerprint(KEY, &other));
    // Admin groups and scopes may change without ending sessions; a new epoch ends them.
    let mut other = sso();
    other.admin_groups.clear();
    other.scopes.push("groups".into());
    assert_eq!(first, fingerprint(KEY, &other));
    other.epoch = "e2".into();
    assert_ne!(first, fingerprint(KEY, &other));
    assert_ne!(first, fingerprint(b"k2", &sso()));
}

#[test]
fn the_epoch_survives_edits_but_not_turning_off_or_another_client() {
    let mut stored = sso();
    stored.continue_epoch(None, "e1".into());
    assert_eq!(stored.epoch, "e1");
    let mut edited = sso();
    edited.admin_groups.push("more".into());
    edited.continue_epoch(Some(&stored), "e2".into());
    assert_eq!(edited.epoch, "e1", "an edit keeps people signed in");
    let mut off = sso();
    off.enabled = false;
    off.continue_epoch(Some(&stored), "e3".into());
    assert_eq!(off.epoch, "e3");
    let mut on_again = sso();
    on_again.continue_epoch(Some(&off), "e4".into());
    assert_eq!(
        on_again.epoch, "e4",
        "sessions ended by turning it off stay ended"
    );
    let mut other_client = sso();
    other_client.client_id = "another".into();
    other_client.continue_epoch(Some(&stored), "e5".into());
    assert_eq!(other_client.epoch, "e5");
}
