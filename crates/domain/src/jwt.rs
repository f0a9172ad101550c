//! End-user JWTs from an identity provider: the pure half of verifying one at ingress. The
//! engine fetches and caches the provider's key set (JWKS); everything decided about a token is
//! here.
//!
//! Order of checks: shape and header (`alg` allow-listed before anything else), the signing key
//! by `kid`, the signature, then the claims (`iss`, `aud`, `exp`, `nbf` with [`LEEWAY_SECS`],
//! the user id claim, `allowedDomains`). The payload is read only once its signature verified.
//!
//! Invariants:
//! - Only RS256 and ES256 are accepted, each only with a key of its type (RSA, EC P-256) whose
//!   JWK `alg`, when present, is the token's; `none`, the HMAC algorithms (so HS256 signed with
//!   an RSA public key) and every other `alg` are refused.
//! - A token's own pointers to keys (`jku`, `jwk`, `x5u`, `x5c`) are never followed: keys come
//!   only from the provider's configured `jwksUri`. A header with `crit` is refused (no
//!   extension is understood here).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use serde_json::{Map, Value};

use crate::Invalid;
use crate::identity_provider::IdentityProviderSpec;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: i64 = 60;
/// Longest token accepted, in bytes; real ID tokens are a few KiB.
const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Longest user id accepted; it travels as a header to the agent and every tool.
const MAX_USER_ID_LEN: usize = 512;

/// Why a token was refused. The message is the `error` of the 401 the caller gets, so it says
/// what is wrong without echoing the provider's configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error(
        "missing token: this agent accepts only an end-user token from its identity provider (Authorization: Bearer <jwt>)"
    )]
    Missing,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("algorithm not allowed: {0:?} (accepted: RS256, ES256)")]
    AlgorithmNotAllowed(String),
    #[error("algorithm not allowed: the token is {alg} but its key {kid:?} is for {key}")]
    AlgorithmMismatch {
        alg: &'static str,
        kid: String,
        key: String,
    },
    #[error("unknown key: {0}")]
    UnknownKey(String),
    #[error("bad signature")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet (nbf is in the future)")]
    NotYetValid,
    #[error("wrong issuer: the token's iss is not this agent's identity provider")]
    WrongIssuer,
    #[error("wrong audience: the token's aud is not one this agent's identity provider accepts")]
    WrongAudience,
    #[error(
        "token has no usable {0:?} claim (the identity provider's userIDClaim: printable ASCII, at most 512 characters)"
    )]
    MissingUserClaim(String),
    #[error("domain not allowed: {0}")]
    DomainNotAllowed(String),
    #[error("the identity provider's signing keys could not be fetched; try again later")]
    KeysUnavailable,
}

/// The allow-listed signature algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Rs256,
    Es256,
}

impl Algorithm {
    fn parse(alg: &str) -> Result<Self, Rejection> {
        match alg {
            "RS256" => Ok(Algorithm::Rs256),
            "ES256" => Ok(Algorithm::Es256),
            other => Err(Rejection::AlgorithmNotAllowed(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Es256 => "ES256",
        }
    }
}

/// A compact JWS whose header passed the allow-list, not yet verified.
#[derive(Debug)]
pub struct UnverifiedToken<'a> {
    alg: Algorithm,
    kid: Option<String>,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    signing_input: &'a str,
    payload: &'a str,
    signature: Vec<u8>,
}

fn decode_part(part: &str, what: &'static str) -> Result<Vec<u8>, Rejection> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Rejection::Malformed(what))
}

impl<'a> UnverifiedToken<'a> {
    /// Splits a compact JWS and reads its header.
    pub fn parse(raw: &'a str) -> Result<Self, Rejection> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Rejection::Missing);
        }
        if raw.len() > MAX_TOKEN_LEN {
            return Err(Rejection::Malformed("too long"));
        }
        let mut parts = raw.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejection::Malformed(
                "not a signed JWT (header.payload.signature)",
            ));
        };
        let header: Value =
            serde_json::from_slice(&decode_part(header, "header is not base64url")?)
                .map_err(|_| Rejection::Malformed("header is not JSON"))?;
        let Value::Object(header) = header else {
            return Err(Rejection::Malformed("header is not a JSON object"));
        };
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => Algorithm::parse(alg)?,
            _ => return Err(Rejection::Malformed("header has no alg")),
        };
        if header.contains_key("crit") {
            return Err(Rejection::Malformed(
                "critical header extensions are not supported",
            ));
        }
        let kid = match header.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(Rejection::Malformed("kid is not a string")),
        };
        let signature = decode_part(signature, "signature is not base64url")?;
        if signature.is_empty() {
            return Err(Rejection::BadSignature);
        }
        let signing_input = raw.rsplit_once('.').map_or("", |(input, _)| input);
        Ok(UnverifiedToken {
            alg,
            kid,
            signing_input,
            payload,
            signature,
        })
    }

    /// The `iss` the token claims, before any check: only for choosing which provider's keys
    /// to verify it with (verification then requires that exact issuer).
    pub fn claimed_issuer(&self) -> Option<String> {
        let payload = URL_SAFE_NO_PAD.decode(self.payload).ok()?;
        let claims: Value = serde_json::from_slice(&payload).ok()?;
        claims.get("iss")?.as_str().map(str::to_owned)
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Checks the signature with `key`, then the claims against `provider` at `now` (Unix
    /// seconds), and gives the end user.
    pub fn verify(
        &self,
        key: &SigningKey,
        provider: &IdentityProviderSpec,
        now: i64,
    ) -> Result<EndUser, Rejection> {
        check_claims(&self.verified_claims(key)?, provider, now)
    }

    /// The token's claims once its signature checks out with `key`. Nothing about the claims
    /// is checked yet: pass them to [`check_claims`].
    pub fn verified_claims(&self, key: &SigningKey) -> Result<Map<String, Value>, Rejection> {
        self.check_signature(key)?;
        let claims: Value =
            serde_json::from_slice(&decode_part(self.payload, "payload is not base64url")?)
                .map_err(|_| Rejection::Malformed("payload is not JSON"))?;
        let Value::Object(claims) = claims else {
            return Err(Rejection::Malformed("payload is not a JSON object"));
        };
        Ok(claims)
    }

    fn check_signature(&self, key: &SigningKey) -> Result<(), Rejection> {
        let mismatch = || Rejection::AlgorithmMismatch {
            alg: self.alg.as_str(),
            kid: key.kid.clone().unwrap_or_default(),
            key: key.describe(),
        };
        if key
            .alg
            .as_deref()
            .is_some_and(|alg| alg != self.alg.as_str())
        {
            return Err(mismatch());
        }
        let message = self.signing_input.as_bytes();
        let verified = match (&key.material, self.alg) {
            (KeyMaterial::Rsa { n, e }, Algorithm::Rs256) => RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, message, &self.signature),
            (KeyMaterial::EcP256 { point }, Algorithm::Es256) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, &self.signature)
            }
            _ => return Err(mismatch()),
        };
        verified.map_err(|_| Rejection::BadSignature)
    }
}

/// Who a verified token says the caller is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndUser {
    /// The value of the provider's `userIDClaim`: the run's `user_id` and the `X-End-User-ID`
    /// the agent and its tools see.
    pub user_id: String,
}

/// A NumericDate claim (seconds, possibly fractional), if present.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, Rejection> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number
            .as_i64()
            .or_else(|| {
                number
                    .as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or(Rejection::Malformed(
                "a time claim is not a number of seconds",
            )),
        Some(_) => Err(Rejection::Malformed(
            "a time claim is not a number of seconds",
        )),
    }
}

/// Checks a verified token's claims against `provider` at `now` (Unix seconds): `iss`, `aud`
/// (when the provider lists audiences), `exp` and `nbf` with [`LEEWAY_SECS`], the user id claim
/// and `allowedDomains`.
pub fn check_claims(
    claims: &Map<String, Value>,
    provider: &IdentityProviderSpec,
    now: i64,
) -> Result<EndUser, Rejection> {
    let issuer = &provider.identity_provider;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer.issuer.as_str()) {
        return Err(Rejection::WrongIssuer);
    }
    if !issuer.audiences.is_empty() {
        let accepted = |aud: &Value| {
            aud.as_str()
                .is_some_and(|aud| issuer.audiences.iter().any(|a| a == aud))
        };
        let ok = match claims.get("aud") {
            Some(Value::Array(auds)) => auds.iter().any(accepted),
            Some(aud) => accepted(aud),
            None => false,
        };
        if !ok {
            return Err(Rejection::WrongAudience);
        }
    }
    // A token that never expires is not one an identity provider issues for end users.
    match numeric_date(claims, "exp")? {
        None => return Err(Rejection::Malformed("token has no exp")),
        Some(exp) if now >= exp.saturating_add(LEEWAY_SECS) => return Err(Rejection::Expired),
        Some(_) => {}
    }
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && now.saturating_add(LEEWAY_SECS) < nbf
    {
        return Err(Rejection::NotYetValid);
    }
    let claim = provider.user_id_claim.as_str();
    let user_id = match claims.get(claim) {
        Some(Value::String(text)) => text.trim().to_owned(),
        Some(Value::Number(number)) if number.is_i64() || number.is_u64() => number.to_string(),
        _ => String::new(),
    };
    // It travels as the X-End-User-ID header: printable ASCII only, or tools would not see it.
    if user_id.is_empty()
        || user_id.len() > MAX_USER_ID_LEN
        || !user_id.chars().all(|c| c == ' ' || c.is_ascii_graphic())
    {
        return Err(Rejection::MissingUserClaim(claim.to_owned()));
    }
    check_domain(claims, &user_id, &provider.allowed_domains)?;
    Ok(EndUser { user_id })
}

/// `allowedDomains`, when set, limits who gets in by email domain: the identity's own, when it
/// is an email, else the token's `email` claim. With domains set, a token with no email to
/// check, or whose `email_verified` is false, is refused (fail closed).
fn check_domain(
    claims: &Map<String, Value>,
    user_id: &str,
    allowed: &[String],
) -> Result<(), Rejection> {
    if allowed.is_empty() {
        return Ok(());
    }
    let email = if user_id.contains('@') {
        user_id
    } else {
        match claims.get("email").and_then(Value::as_str) {
            Some(email) if email.contains('@') => email,
            _ => {
                return Err(Rejection::DomainNotAllowed(
                    "the token carries no email to check against allowedDomains".into(),
                ));
            }
        }
    };
    if claims.get("email_verified") == Some(&Value::Bool(false)) {
        return Err(Rejection::DomainNotAllowed(
            "the token's email is not verified".into(),
        ));
    }
    let domain = email
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if allowed.contains(&domain) {
        Ok(())
    } else {
        Err(Rejection::DomainNotAllowed(format!(
            "{domain:?} is not one of the identity provider's allowedDomains"
        )))
    }
}

/// A provider's usable signing keys, from its JWKS document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

/// One usable JWK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKey {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one.
    alg: Option<String>,
    material: KeyMaterial,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum KeyMaterial {
    /// Big-endian modulus and exponent, without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The uncompressed point `0x04 || x || y`.
    EcP256 { point: Vec<u8> },
}

impl SigningKey {
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn describe(&self) -> String {
        match (&self.material, &self.alg) {
            (_, Some(alg)) => alg.clone(),
            (KeyMaterial::Rsa { .. }, None) => "RSA".into(),
            (KeyMaterial::EcP256 { .. }, None) => "EC P-256".into(),
        }
    }

    fn fits(&self, alg: Algorithm) -> bool {
        let material = matches!(
            (&self.material, alg),
            (KeyMaterial::Rsa { .. }, Algorithm::Rs256)
                | (KeyMaterial::EcP256 { .. }, Algorithm::Es256)
        );
        material && self.alg.as_deref().is_none_or(|a| a == alg.as_str())
    }

    /// A JWK this module can verify with, or `None` (other key types and curves, encryption
    /// keys, malformed members): a provider's set may hold keys for other uses.
    fn from_jwk(jwk: &Map<String, Value>) -> Option<SigningKey> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        let bytes = |name: &str| text(name).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
        if text("use").is_some_and(|u| u != "sig") {
            return None;
        }
        let material = match text("kty")? {
            "RSA" => {
                let strip = |b: Vec<u8>| {
                    let start = b.iter().position(|&byte| byte != 0).unwrap_or(b.len());
                    b[start..].to_vec()
                };
                let n = strip(bytes("n")?);
                let e = strip(bytes("e")?);
                if n.is_empty() || e.is_empty() {
                    return None;
                }
                KeyMaterial::Rsa { n, e }
            }
            "EC" if text("crv") == Some("P-256") => {
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                KeyMaterial::EcP256 { point }
            }
            _ => return None,
        };
        Some(SigningKey {
            kid: text("kid").map(str::to_owned),
            alg: text("alg").map(str::to_owned),
            material,
        })
    }
}

impl KeySet {
    /// Reads a JWKS document (`{"keys": [...]}`), keeping the keys that can verify RS256 or
    /// ES256 and skipping the rest.
    pub fn parse(document: &[u8]) -> Result<KeySet, Invalid> {
        let document: Value = serde_json::from_slice(document)
            .map_err(|error| Invalid(format!("the key set is not JSON: {error}")))?;
        let Some(Value::Array(keys)) = document.get("keys") else {
            return Err(Invalid::new("the key set has no \"keys\" list"));
        };
        Ok(KeySet {
            keys: keys
                .iter()
                .filter_map(Value::as_object)
                .filter_map(SigningKey::from_jwk)
                .collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// True when `token` names a key this set does not hold (worth refreshing the set for).
    pub fn lacks(&self, token: &UnverifiedToken<'_>) -> bool {
        matches!(self.find(token), Err(Rejection::UnknownKey(_)))
    }

    /// The key a token was signed with: the one with its `kid` (preferring one that fits its
    /// algorithm); without a `kid`, the only key that fits.
    pub fn find(&self, token: &UnverifiedToken<'_>) -> Result<&SigningKey, Rejection> {
        match token.kid() {
            Some(kid) => {
                let mut named = self.keys.iter().filter(|key| key.kid() == Some(kid));
                let first = named.clone().next();
                named
                    .find(|key| key.fits(token.alg))
                    .or(first)
                    .ok_or_else(|| {
                        Rejection::UnknownKey(format!(
                            "no key {kid:?} in the identity provider's key set"
                        ))
                    })
            }
            None => {
                let mut fitting = self.keys.iter().filter(|key| key.fits(token.alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    _ => Err(Rejection::UnknownKey(format!(
                        "the token names no kid and the key set has no single {} key",
                        token.alg.as_str()
                    ))),
                }
            }
        }
    }
}

/// Verifies `raw` against `keys` and `provider` at `now` (Unix seconds).
pub fn verify(
    raw: &str,
    keys: &KeySet,
    provider: &IdentityProviderSpec,
    now: i64,
) -> Result<EndUser, Rejection> {
    let token = UnverifiedToken::parse(raw)?;
    let key = keys.find(&token)?;
    token.verify(key, provider, now)
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
