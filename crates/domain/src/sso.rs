//! Operator sign-in to the console with OIDC ("single sign-on"): the workspace setting, the
//! issuer's discovery document, the sign-in `state`, and what an ID token must say for its
//! person to get a session.
//!
//! The flow is the authorization-code flow with PKCE. The `state` is signed and expiring and
//! carries everything the callback needs (workspace, nonce), like a tool's consent state
//! (`oauth::sign_state`, `oauth::pkce_verifier`); the PKCE verifier, the ID token's `nonce` and
//! the browser binding (a cookie set when the flow starts) are HMACs of the state's nonce, so a
//! pending sign-in keeps nothing in the store.
//!
//! Invariants: an ID token is accepted only with the identity provider's own checks (signature
//! from its `jwksUri`, `iss`, `exp`/`nbf`, user id claim, `allowedDomains`, see `jwt.rs`), with
//! `aud` = the console's `client_id` (and `azp`, when present, too) and the `nonce` of this
//! sign-in. The client secret is a `Secret`: it is not part of `ConsoleSso` and never shown.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::identity_provider::IdentityProviderSpec;
use crate::jwt::{self, Rejection};
use crate::oauth;
use crate::tool::OAuth2Config;
use crate::{Invalid, ResourceName, Secret, Timestamp, fields};

/// The setting's key.
pub const SETTING: &str = "console-sso";
/// How long a sign-in may take, from the sign-in button to the callback.
pub const STATE_TTL_SECONDS: i64 = 10 * 60;
/// The console's callback, under the operator URL.
pub const CALLBACK_PATH: &str = "/console/oidc/callback";
/// A person's session carries their groups; this many fit in its cookie.
pub const MAX_GROUPS: usize = 64;
pub const MAX_GROUP_CHARS: usize = 128;
const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];
const DEFAULT_GROUPS_CLAIM: &str = "groups";
/// Longest display name kept from a token.
const MAX_NAME_CHARS: usize = 200;

/// How the console authenticates itself at the token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    /// `client_id` and `client_secret` in the form.
    #[default]
    ClientSecretPost,
    /// HTTP Basic with the client id and secret.
    ClientSecretBasic,
}

/// The workspace's console sign-in with OIDC, as stored (without the client secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSso {
    /// False: the button is gone and every session signed in this way has ended.
    pub enabled: bool,
    /// The identity provider (by name) whose issuer, key set and `allowedDomains` apply.
    pub identity_provider: String,
    pub client_id: String,
    /// Always includes `openid`.
    pub scopes: Vec<String>,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// True when the endpoints came from the issuer's discovery document.
    #[serde(default)]
    pub discovered: bool,
    #[serde(default)]
    pub token_endpoint_auth: TokenAuth,
    /// The ID-token claim listing the person's groups.
    pub groups_claim: String,
    /// Members of any of these groups are admins; everyone else signs in as a member.
    #[serde(default)]
    pub admin_groups: Vec<String>,
    /// Where the provider sends people back; empty for this server's own callback.
    #[serde(default)]
    pub redirect_uri: String,
    /// The button says "Sign in with <display_name>"; empty for the identity provider's name.
    #[serde(default)]
    pub display_name: String,
    /// Random, part of every person's session fingerprint: renewed whenever single sign-on
    /// is turned off or moved to another provider or client, so no earlier session comes back
    /// when it is turned on again. Never shown.
    #[serde(default)]
    pub epoch: String,
}

/// A parsed `PUT /settings/console-sso` body.
#[derive(Debug)]
pub struct ConsoleSsoInput {
    /// Endpoints are empty when they are to be discovered.
    pub sso: ConsoleSso,
    /// Absent: keep the stored one (or none: a public client, PKCE only).
    pub client_secret: Option<Secret>,
}

fn word_list(field: &str, value: Option<Value>) -> Result<Vec<String>, Invalid> {
    let items = match value {
        Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        other => fields::strings(field, other)?.unwrap_or_default(),
    };
    let mut words: Vec<String> = Vec::new();
    for item in items {
        let word = fields::word(&format!("every entry of {field}"), &item)?;
        if !words.contains(&word) {
            words.push(word);
        }
    }
    Ok(words)
}

fn endpoint(field: &str, value: Option<Value>) -> Result<String, Invalid> {
    match fields::string(field, value)? {
        Some(url) if !url.trim().is_empty() => {
            crate::url::http_url(field, &url)?;
            Ok(url.trim().to_owned())
        }
        _ => Ok(String::new()),
    }
}

fn group(field: &str, raw: &str) -> Result<String, Invalid> {
    let group = raw.trim();
    if group.is_empty() || group.chars().count() > MAX_GROUP_CHARS {
        return Err(Invalid(format!(
            "every entry of {field} must be 1 to {MAX_GROUP_CHARS} characters"
        )));
    }
    Ok(group.to_owned())
}

impl ConsoleSsoInput {
    /// Reads the setting: `identity_provider` and `client_id` are required; `scopes` defaults
    /// to `openid email profile` (`openid` is always added); endpoints are optional (empty:
    /// discovered from the issuer); `enabled` defaults to true.
    pub fn parse(body: Value) -> Result<Self, Invalid> {
        let Value::Object(mut doc) = body else {
            return Err(Invalid::new("request body must be a JSON object"));
        };
        let identity_provider = match fields::string(
            "identity_provider",
            fields::take(&mut doc, &["identity_provider", "identityProvider"]),
        )? {
            Some(name) => ResourceName::parse(name.trim())
                .map_err(|invalid| Invalid(format!("identity_provider: {}", invalid.0)))?
                .as_str()
                .to_owned(),
            None => {
                return Err(Invalid::new(
                    "identity_provider is required: the name of an identity provider of this workspace",
                ));
            }
        };
        let client_id = match fields::string(
            "client_id",
            fields::take(&mut doc, &["client_id", "clientId"]),
        )? {
            Some(id) => fields::word("client_id", &id)?,
            None => return Err(Invalid::new("client_id is required")),
        };
        let client_secret = fields::string(
            "client_secret",
            fields::take(&mut doc, &["client_secret", "clientSecret"]),
        )?
        .map(|secret| secret.trim().to_owned())
        .filter(|secret| !secret.is_empty())
        .map(Secret::new);
        let mut scopes = word_list("scopes", doc.remove("scopes"))?;
        if scopes.is_empty() {
            scopes = DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        } else if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".to_owned());
        }
        let authorization_endpoint = endpoint(
            "authorization_endpoint",
            fields::take(
                &mut doc,
                &["authorization_endpoint", "authorizationEndpoint"],
            ),
        )?;
        let token_endpoint = endpoint(
            "token_endpoint",
            fields::take(&mut doc, &["token_endpoint", "tokenEndpoint"]),
        )?;
        if authorization_endpoint.is_empty() != token_endpoint.is_empty() {
            return Err(Invalid::new(
                "give both authorization_endpoint and token_endpoint, or neither to discover them from the issuer",
            ));
        }
        let token_endpoint_auth = match fields::string(
            "token_endpoint_auth_method",
            fields::take(
                &mut doc,
                &["token_endpoint_auth_method", "tokenEndpointAuthMethod"],
            ),
        )?
        .as_deref()
        .map(str::trim)
        {
            None | Some("") | Some("client_secret_post") => TokenAuth::ClientSecretPost,
            Some("client_secret_basic") => TokenAuth::ClientSecretBasic,
            Some(other) => {
                return Err(Invalid(format!(
                    "token_endpoint_auth_method {other:?} is not supported (client_secret_post, client_secret_basic)"
                )));
            }
        };
        let groups_claim = match fields::string(
            "groups_claim",
            fields::take(&mut doc, &["groups_claim", "groupsClaim"]),
        )? {
            Some(claim) if !claim.trim().is_empty() => fields::word("groups_claim", &claim)?,
            _ => DEFAULT_GROUPS_CLAIM.to_owned(),
        };
        let mut admin_groups: Vec<String> = Vec::new();
        for raw in fields::strings(
            "admin_groups",
            fields::take(&mut doc, &["admin_groups", "adminGroups"]),
        )?
        .unwrap_or_default()
        {
            let group = group("admin_groups", &raw)?;
            if !admin_groups.contains(&group) {
                admin_groups.push(group);
            }
        }
        let redirect_uri = endpoint(
            "redirect_uri",
            fields::take(&mut doc, &["redirect_uri", "redirectUri"]),
        )?;
        let display_name = fields::string(
            "display_name",
            fields::take(&mut doc, &["display_name", "displayName"]),
        )?
        .map(|name| name.trim().chars().take(MAX_NAME_CHARS).collect())
        .unwrap_or_default();
        let enabled = match doc.remove("enabled") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(enabled)) => enabled,
            Some(_) => return Err(Invalid::new("enabled must be true or false")),
        };
        Ok(ConsoleSsoInput {
            sso: ConsoleSso {
                enabled,
                identity_provider,
                client_id,
                scopes,
                discovered: authorization_endpoint.is_empty(),
                authorization_endpoint,
                token_endpoint,
                token_endpoint_auth,
                groups_claim,
                admin_groups,
                redirect_uri,
                display_name,
                epoch: String::new(),
            },
            client_secret,
        })
    }
}

impl ConsoleSso {
    /// What the sign-in button calls the provider.
    pub fn label(&self) -> &str {
        if self.display_name.is_empty() {
            &self.identity_provider
        } else {
            &self.display_name
        }
    }

    /// Where the provider sends people back: the configured `redirect_uri`, else this
    /// server's callback under `operator_url`.
    pub fn redirect_uri(&self, operator_url: &str) -> String {
        if self.redirect_uri.is_empty() {
            format!("{}{CALLBACK_PATH}", operator_url.trim_end_matches('/'))
        } else {
            self.redirect_uri.clone()
        }
    }

    /// Sets the epoch this setting is written with: `previous`'s while single sign-on stays
    /// on with the same provider and client (its people stay signed in), else `fresh`.
    pub fn continue_epoch(&mut self, previous: Option<&ConsoleSso>, fresh: String) {
        self.epoch = match previous {
            Some(previous)
                if previous.enabled
                    && self.enabled
                    && previous.identity_provider == self.identity_provider
                    && previous.client_id == self.client_id
                    && !previous.epoch.is_empty() =>
            {
                previous.epoch.clone()
            }
            _ => fresh,
        };
    }

    /// True when `groups` holds one of `admin_groups`.
    pub fn is_admin(&self, groups: &[String]) -> bool {
        groups.iter().any(|group| self.admin_groups.contains(group))
    }
}

/// Where an issuer publishes its discovery document (OpenID Connect Discovery 1.0 §4).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// What the console takes from a discovery document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovered {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub token_endpoint_auth: TokenAuth,
}

/// Reads a discovery document, which must be the identity provider's: its `issuer` is the
/// provider's issuer (§4.3; a trailing `/` aside). Its `jwks_uri` is not used: ID tokens
/// verify only against the provider's configured `jwksUri`.
pub fn read_discovery(document: &[u8], issuer: &str) -> Result<Discovered, Invalid> {
    let document: Value = serde_json::from_slice(document)
        .map_err(|error| Invalid(format!("the discovery document is not JSON: {error}")))?;
    let text = |name: &str| document.get(name).and_then(Value::as_str).unwrap_or("");
    let found = text("issuer");
    if found.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(Invalid(format!(
            "the discovery document is for issuer {found:?}, not the identity provider's {issuer:?}"
        )));
    }
    let url = |name: &str| -> Result<String, Invalid> {
        let value = text(name);
        if value.is_empty() {
            return Err(Invalid(format!("the discovery document has no {name}")));
        }
        crate::url::http_url(&format!("the discovery document's {name}"), value)?;
        Ok(value.to_owned())
    };
    let methods: Vec<&str> = document
        .get("token_endpoint_auth_methods_supported")
        .and_then(Value::as_array)
        .map(|methods| methods.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // The spec's default is client_secret_basic; post is used whenever it is offered.
    let token_endpoint_auth =
        if methods.contains(&"client_secret_post") || methods.contains(&"none") {
            TokenAuth::ClientSecretPost
        } else {
            TokenAuth::ClientSecretBasic
        };
    Ok(Discovered {
        authorization_endpoint: url("authorization_endpoint")?,
        token_endpoint: url("token_endpoint")?,
        token_endpoint_auth,
    })
}

/// A sign-in in progress: what the `state` carries to the callback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInState {
    #[serde(rename = "ws")]
    pub workspace: String,
    /// Unix milliseconds.
    #[serde(rename = "exp")]
    pub expires_at: i64,
    /// Random; the PKCE verifier, the ID token's nonce and the browser binding derive from it.
    #[serde(rename = "n")]
    pub nonce: String,
}

fn derive(key: &[u8], label: &str, nonce: &str) -> String {
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        format!("{label}\0{nonce}").as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(tag.as_ref())
}

impl SignInState {
    pub fn new(workspace: &str, nonce: String, now: Timestamp) -> Self {
        SignInState {
            workspace: workspace.to_owned(),
            expires_at: now.plus_seconds(STATE_TTL_SECONDS).millis(),
            nonce,
        }
    }

    pub fn sign(&self, key: &[u8]) -> String {
        oauth::sign_state(self, key)
    }

    /// The state a callback brought back, if it is ours, intact and not expired.
    pub fn verify(token: &str, key: &[u8], now: Timestamp) -> Result<SignInState, Invalid> {
        let state: SignInState = oauth::verify_state(token, key).ok_or_else(|| {
            Invalid::new(
                "the sign-in is not valid (its state was altered or is not ours): sign in again",
            )
        })?;
        if state.expires_at <= now.millis() {
            return Err(Invalid::new(
                "the sign-in took longer than 10 minutes: sign in again",
            ));
        }
        Ok(state)
    }

    pub fn pkce_verifier(&self, key: &[u8]) -> String {
        oauth::pkce_verifier(key, &self.nonce)
    }

    /// The `nonce` the ID token must carry back.
    pub fn id_token_nonce(&self, key: &[u8]) -> String {
        derive(key, "oidc nonce", &self.nonce)
    }

    /// The value of the cookie that ties the sign-in to the browser that started it, so a
    /// callback link someone else started does not sign this browser in (login CSRF).
    pub fn browser_binding(&self, key: &[u8]) -> String {
        derive(key, "oidc browser", &self.nonce)
    }

    /// Whether `presented` is this sign-in's browser binding (constant-time).
    pub fn bound_to(&self, key: &[u8], presented: &str) -> bool {
        URL_SAFE_NO_PAD.decode(presented.trim()).is_ok_and(|tag| {
            hmac::verify(
                &hmac::Key::new(hmac::HMAC_SHA256, key),
                format!("oidc browser\0{}", self.nonce).as_bytes(),
                &tag,
            )
            .is_ok()
        })
    }

    /// The provider's authorization URL for this sign-in: code flow, the setting's scopes,
    /// PKCE (S256) and the ID token's nonce.
    pub fn authorization_url(
        &self,
        sso: &ConsoleSso,
        redirect_uri: &str,
        key: &[u8],
    ) -> Result<String, Invalid> {
        let mut auth_params = Map::new();
        auth_params.insert("nonce".into(), Value::String(self.id_token_nonce(key)));
        let config = OAuth2Config {
            auth_url: sso.authorization_endpoint.clone(),
            token_url: sso.token_endpoint.clone(),
            scopes: sso.scopes.clone(),
            auth_params,
            ..OAuth2Config::default()
        };
        let challenge = oauth::pkce_challenge(&self.pkce_verifier(key));
        oauth::authorization_url(
            &config,
            &sso.client_id,
            redirect_uri,
            &self.sign(key),
            Some(&challenge),
        )
    }
}

/// The person an ID token proved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Who they are: the identity provider's user id claim (`email` unless set otherwise),
    /// recorded as who approved what.
    #[serde(rename = "sub")]
    pub subject: String,
    /// The token's `name`, else the subject.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    /// From the setting's `groups_claim`.
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "g")]
    pub groups: Vec<String>,
}

/// Why an ID token does not sign anyone in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("wrong audience: the ID token is not for this console's client_id")]
    WrongAudience,
    #[error("wrong issuer: the ID token is not from the identity provider {0:?}")]
    WrongIssuer(String),
    #[error("bad nonce: the ID token was not issued for this sign-in")]
    BadNonce,
    #[error("ID token refused: {0}")]
    Token(Rejection),
    #[error("the ID token's {claim:?} claim is not a list of group names")]
    BadGroups { claim: String },
    #[error(
        "the ID token lists {0} groups; at most {MAX_GROUPS} fit in a console session (narrow groups_claim or the provider's group filter)"
    )]
    TooManyGroups(usize),
}

/// Checks a verified ID token's claims for this sign-in and gives the person: the provider's
/// checks with `aud` = `client_id`, then `azp` and `nonce`, then the groups.
pub fn person_from_id_token(
    claims: &Map<String, Value>,
    provider_name: &str,
    provider: &IdentityProviderSpec,
    sso: &ConsoleSso,
    expected_nonce: &str,
    now: i64,
) -> Result<Person, Refusal> {
    let mut spec = provider.clone();
    spec.identity_provider.audiences = vec![sso.client_id.clone()];
    let user = jwt::check_claims(claims, &spec, now).map_err(|rejection| match rejection {
        Rejection::WrongAudience => Refusal::WrongAudience,
        Rejection::WrongIssuer => Refusal::WrongIssuer(provider_name.to_owned()),
        other => Refusal::Token(other),
    })?;
    if let Some(azp) = claims.get("azp").and_then(Value::as_str)
        && azp != sso.client_id
    {
        return Err(Refusal::WrongAudience);
    }
    // The nonce is no secret (it travelled in the authorization URL): plain equality will do.
    let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if nonce.is_empty() || nonce != expected_nonce {
        return Err(Refusal::BadNonce);
    }
    let groups = groups(claims, &sso.groups_claim)?;
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(|text| text.trim().chars().take(MAX_NAME_CHARS).collect::<String>())
            .unwrap_or_default()
    };
    let name = text("name");
    Ok(Person {
        name: if name.is_empty() {
            user.user_id.clone()
        } else {
            name
        },
        email: text("email"),
        subject: user.user_id,
        groups,
    })
}

/// The groups claim: a list of names (or one name); absent is none. Overlong names are
/// dropped, as they could not be an approver group either.
fn groups(claims: &Map<String, Value>, claim: &str) -> Result<Vec<String>, Refusal> {
    let bad = || Refusal::BadGroups {
        claim: claim.to_owned(),
    };
    let items: Vec<&str> = match claims.get(claim) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad()),
    };
    let mut groups: Vec<String> = Vec::new();
    for item in items {
        let group = item.trim();
        if group.is_empty() || group.chars().count() > MAX_GROUP_CHARS {
            continue;
        }
        if !groups.iter().any(|known| known == group) {
            groups.push(group.to_owned());
        }
    }
    if groups.len() > MAX_GROUPS {
        return Err(Refusal::TooManyGroups(groups.len()));
    }
    Ok(groups)
}

/// A keyed fingerprint of the setting a person signed in with (its provider, client and
/// epoch): a person's session lasts while the workspace's enabled setting still has it.
pub fn fingerprint(key: &[u8], sso: &ConsoleSso) -> String {
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        format!(
            "sso\0{}\0{}\0{}",
            sso.identity_provider, sso.client_id, sso.epoch
        )
        .as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
}

#[cfg(test)]
#[path = "sso_tests.rs"]
mod tests;
