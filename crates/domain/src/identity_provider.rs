//! Identity providers: the OIDC issuers whose end-user JWTs an agent's ingress accepts. The
//! token is checked against `jwksUri`, `issuer` and `audiences`; `userIDClaim` becomes the end
//! user's id; `allowedDomains`, when set, limits which email domains get in.
//!
//! `IdentityProviderInput::parse` accepts `{name, spec}` (or the spec fields at the top level) in
//! camelCase or the snake_case the SDK also reads, and always produces the camelCase form.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Invalid, ResourceName, fields};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityProviderSpec {
    /// The public host name client apps call, e.g. `app.example.com`.
    pub host: String,
    pub identity_provider: TokenIssuer,
    #[serde(rename = "userIDClaim")]
    pub user_id_claim: String,
    /// Lower-case email domains; empty means any.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenIssuer {
    /// Compared verbatim with the token's `iss`, so it is kept exactly as sent (trailing `/`
    /// included: Auth0's issuers end with one).
    pub issuer: String,
    pub jwks_uri: String,
    /// Empty means the audience is not checked.
    #[serde(default)]
    pub audiences: Vec<String>,
}

/// The claim used when none is given, as documented.
const DEFAULT_USER_ID_CLAIM: &str = "email";

/// A parsed, validated create-or-update request for an identity provider.
#[derive(Debug)]
pub struct IdentityProviderInput {
    pub name: ResourceName,
    pub spec: IdentityProviderSpec,
}

impl IdentityProviderInput {
    pub fn parse(body: Value) -> Result<Self, Invalid> {
        let Value::Object(mut doc) = body else {
            return Err(Invalid::new("request body must be a JSON object"));
        };
        let name = fields::resource_name(&mut doc)?;
        let spec = match doc.remove("spec") {
            None | Some(Value::Null) => doc,
            Some(Value::Object(spec)) => spec,
            Some(_) => return Err(Invalid::new("spec must be an object")),
        };
        Ok(IdentityProviderInput {
            name,
            spec: IdentityProviderSpec::parse(spec)?,
        })
    }
}

impl IdentityProviderSpec {
    fn parse(mut doc: Map<String, Value>) -> Result<Self, Invalid> {
        let host = match fields::string("spec.host", doc.remove("host"))? {
            Some(host) => parse_host(&host)?,
            None => return Err(Invalid::new("spec.host is required")),
        };
        let issuer_doc = fields::object(
            "spec.identityProvider",
            fields::take(&mut doc, &["identityProvider", "identity_provider"]),
        )?
        .ok_or_else(|| {
            Invalid::new("spec.identityProvider is required: {issuer, jwksUri, audiences}")
        })?;
        let identity_provider = TokenIssuer::parse(issuer_doc)?;
        let user_id_claim = match fields::string(
            "spec.userIDClaim",
            fields::take(&mut doc, &["userIDClaim", "user_id_claim", "userIdClaim"]),
        )? {
            Some(claim) => fields::word("spec.userIDClaim", &claim)?,
            None => DEFAULT_USER_ID_CLAIM.to_owned(),
        };
        let mut allowed_domains = Vec::new();
        let domains = fields::strings(
            "spec.allowedDomains",
            fields::take(&mut doc, &["allowedDomains", "allowed_domains"]),
        )?;
        for raw in domains.unwrap_or_default() {
            let domain = parse_domain(&raw)?;
            if !allowed_domains.contains(&domain) {
                allowed_domains.push(domain);
            }
        }
        Ok(IdentityProviderSpec {
            host,
            identity_provider,
            user_id_claim,
            allowed_domains,
        })
    }
}

impl TokenIssuer {
    fn parse(mut doc: Map<String, Value>) -> Result<Self, Invalid> {
        let issuer = match fields::string("spec.identityProvider.issuer", doc.remove("issuer"))? {
            Some(issuer) => fields::word("spec.identityProvider.issuer", &issuer)?,
            None => return Err(Invalid::new("spec.identityProvider.issuer is required")),
        };
        let jwks_uri = match fields::string(
            "spec.identityProvider.jwksUri",
            fields::take(&mut doc, &["jwksUri", "jwks_uri", "jwksURI"]),
        )? {
            Some(uri) if !uri.trim().is_empty() => {
                crate::url::http_url("spec.identityProvider.jwksUri", &uri)?;
                uri.trim().to_owned()
            }
            _ => return Err(Invalid::new("spec.identityProvider.jwksUri is required")),
        };
        let audiences =
            fields::strings("spec.identityProvider.audiences", doc.remove("audiences"))?
                .unwrap_or_default()
                .iter()
                .map(|audience| {
                    fields::word("every entry of spec.identityProvider.audiences", audience)
                })
                .collect::<Result<_, _>>()?;
        Ok(TokenIssuer {
            issuer,
            jwks_uri,
            audiences,
        })
    }
}

/// A host name, optionally with a port; not a URL.
fn parse_host(raw: &str) -> Result<String, Invalid> {
    let host = raw.trim();
    if host.is_empty() {
        return Err(Invalid::new("spec.host is required"));
    }
    let valid = host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'*'));
    if !valid {
        return Err(Invalid(format!(
            "spec.host {host:?} must be a host name such as app.example.com (not a URL)"
        )));
    }
    Ok(host.to_ascii_lowercase())
}

/// An email domain such as `example.com`, lower-cased.
fn parse_domain(raw: &str) -> Result<String, Invalid> {
    let domain = raw.trim().to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let valid = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if !valid {
        return Err(Invalid(format!(
            "spec.allowedDomains entry {raw:?} is not a domain name such as example.com"
        )));
    }
    Ok(domain)
}

#[cfg(test)]
#[path = "identity_provider_tests.rs"]
mod tests;
