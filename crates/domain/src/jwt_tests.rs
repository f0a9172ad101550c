use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use serde_json::json;

use super::*;
use crate::identity_provider::TokenIssuer;

/// A test fixture, not a secret: a 2048-bit RSA private key (PKCS#8 DER, base64) generated with
/// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 | openssl pkcs8 -topk8
/// -nocrypt -outform DER | base64` for these tests only (ring cannot generate RSA keys).
const TEST_RSA_PKCS8: &str = "
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCqDM4OvjN1B0FQRxE15Bj8Z90x
bjE6tmaaHlpLxYMXTh7ZT+TeUf/1VV3ZkFlonc7Fb+ZXt/YE3s6hot4HBjllgCdL10VzouHaLDb3
4g2V52nRwYPmuYQ1rVmjqXaeC1wSCQOmks3FOYIYBekLHQuY2PE3ACP2N2yejwS5jiz6eweY8Gtn
Rrhm1ZQl+QLxhKYhISYysKqqgeA/cjrKlx5jI2lMrzJkrw/rjss+zn+6ND62JrOLyvyc6xmLurhy
PSSi+i3T6607O8NJ5nw8TjEkbZvwG5MUxd9RR0f/KhMyXqmy/sA0VbnvTP4p+cxaxyU3mgP0VO8W
ZfpDkYFxnK/fAgMBAAECggEAS24DpzGCZMpzk9b6UOPdm3S8/rSo3KjVKU8Gca7qn9dUwsN4O4+3
EI2t5BhuOIQrmJOy4r0kwXNNyBAVGZuOsTHf/HnAgnNBaMQNG/anXRO58kO7LQiklyTOatT8W02h
qRRbjLN42B/Sz7IrdfUL1GCC2wlSamCaa1j4WRCybeaT/56cGz42CIF4W5LjrwioKTiRMTyCLLpM
V2u+dM4LQ+YO7tvSAZDSjWdci8jWJ0yeN+DZBpU9w7zdDGz6te3DBci+YdkzOP2aZYsLk3+rVpdZ
8o1V86jrY3yNoMa69zFOuP5eRzdrsOdRw1Zoim0xmKi8uhQcWndCB2CpBGEGzQKBgQDlb7+jHLtY
PF48cRtQ8GvQ8r7BCN7wwMiXfCilSza7EbRTo/sClQWJJpEi5EoTcxnAR0jSE8yOB9H6qZb3jExL
Ziq7N7XHfuhozh39TQuT7usQ5oQ/taYPRL/su1qHLZAGbmwNo/6rRaRtQNJtzKTvHDiAhZJzDxSQ
MTe9e5ZWewKBgQC9vOeI9n22/06cX06xpfe5ZPVpIdxwkZL8TSAZYgMm5R+3TBCl/tjjsdey9Hao
0au0BMlzhRGWNLxC6Uo/nrL2rjtIQ88aLd1895ydFQlblmXy+SXBuwtWgKOCQ7lSiqHb7bZmV1lg
5pjc+QVg6q4bKU4Q4052tF8kqiL80Vng7QKBgQCq1BV/wTjMbcZMgnqwPRJJtTPKTmyQHTo9cDhj
Oik6B+iYDhQqzAIfKBQQQqHU8XJO88SIhi1b4v64/+Rj1JZJ3XwbgVNbgmZRAobZvq/MKavkHX6C
YSGPZMTx4l15ILeH0lepoF1R8LyIjCchkamMTxrStqFgAe5xnfO+pXI+WQKBgHaSoy9Yu1+tVXcr
qIYkbheSHDvDSXufvfemSzURp16bOaLXCmByTyCcd2wCklUWEvPBOhPTSRZRhoVaPWhcyQKYB7w1
hCucFhqOs3UHPH3cE4IwaYQUXBWG9qflot8Oe/BxMdfrJpQEB+uwQ8g5YOzgd0TeiJ5uQjcrjAnq
2vxRAoGBANUf2zg1Dpy84FKVaWss/YnMgO2o8mcVeXsHS0YjMCh6hI/Xn41/eCM+EhEKS4xZNEAk
Vn1nHK1iMXryOWk9rNkOy+7D5wHdrWTtoHAmL1gqEmI9jEzxxuFGifuyMXZ2ISRCWsp2N3HrEhqL
DAJ2ewfl5zMfT0yN+QZsDFGBSHs6
";

const NOW: i64 = 1_750_000_000;
const ISSUER: &str = "https://idp.example.com/";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa() -> RsaKeyPair {
    let der: String = TEST_RSA_PKCS8.split_whitespace().collect();
    RsaKeyPair::from_pkcs8(&STANDARD.decode(der).unwrap()).unwrap()
}

fn ec() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap()
}

fn rsa_jwk(key: &RsaKeyPair, kid: &str) -> Value {
    let components = RsaPublicKeyComponents::<Vec<u8>>::from(key.public());
    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
           "n": b64(&components.n), "e": b64(&components.e)})
}

fn ec_jwk(key: &EcdsaKeyPair, kid: &str) -> Value {
    let point = key.public_key().as_ref();
    json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])})
}

fn key_set(keys: Vec<Value>) -> KeySet {
    KeySet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

fn sign_rs256(key: &RsaKeyPair, header: &Value, claims: &Value) -> String {
    let input = unsigned(header, claims);
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", b64(&signature))
}

fn sign_es256(key: &EcdsaKeyPair, header: &Value, claims: &Value) -> String {
    let input = unsigned(header, claims);
    let signature = key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", b64(signature.as_ref()))
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": "client-1", "sub": "u-123", "email": "Alice@Example.com",
           "iat": NOW - 10, "exp": NOW + 300})
}

fn provider(claim: &str, domains: &[&str]) -> IdentityProviderSpec {
    IdentityProviderSpec {
        host: "app.example.com".into(),
        identity_provider: TokenIssuer {
            issuer: ISSUER.into(),
            jwks_uri: "https://idp.example.com/jwks".into(),
            audiences: vec!["client-0".into(), "client-1".into()],
        },
        user_id_claim: claim.into(),
        allowed_domains: domains.iter().map(|d| (*d).to_owned()).collect(),
    }
}

struct Fixture {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    keys: KeySet,
}

fn fixture() -> Fixture {
    let (rsa, ec) = (rsa(), ec());
    let keys = key_set(vec![rsa_jwk(&rsa, "r1"), ec_jwk(&ec, "e1")]);
    Fixture { rsa, ec, keys }
}

impl Fixture {
    fn rs(&self, claims: &Value) -> String {
        sign_rs256(
            &self.rsa,
            &json!({"alg": "RS256", "typ": "JWT", "kid": "r1"}),
            claims,
        )
    }

    fn es(&self, claims: &Value) -> String {
        sign_es256(&self.ec, &json!({"alg": "ES256", "kid": "e1"}), claims)
    }

    fn check(&self, token: &str, provider: &IdentityProviderSpec) -> Result<String, Rejection> {
        verify(token, &self.keys, provider, NOW).map(|user| user.user_id)
    }
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        claims.as_object_mut().unwrap().remove(key);
    } else {
        claims[key] = value;
    }
    claims
}

#[test]
fn accepts_rs256_and_es256_and_extracts_the_user_claim() {
    let f = fixture();
    let email = provider("email", &[]);
    assert_eq!(
        f.check(&f.rs(&claims()), &email).unwrap(),
        "Alice@Example.com"
    );
    assert_eq!(
        f.check(&f.es(&claims()), &email).unwrap(),
        "Alice@Example.com"
    );
    assert_eq!(
        f.check(&f.es(&claims()), &provider("sub", &[])).unwrap(),
        "u-123"
    );
    // A numeric claim is its decimal text; surrounding blanks are not part of the id.
    let numeric = with(claims(), "sub", json!(42));
    assert_eq!(
        f.check(&f.rs(&numeric), &provider("sub", &[])).unwrap(),
        "42"
    );
    let padded = with(claims(), "sub", json!("  bob "));
    assert_eq!(
        f.check(&f.rs(&padded), &provider("sub", &[])).unwrap(),
        "bob"
    );
}

#[test]
fn refuses_algorithms_off_the_allow_list_before_looking_at_keys() {
    let f = fixture();
    let p = provider("sub", &[]);
    let input_none = unsigned(&json!({"alg": "none"}), &claims());
    for token in [format!("{input_none}."), format!("{input_none}.AAAA")] {
        assert_eq!(
            f.check(&token, &p),
            Err(Rejection::AlgorithmNotAllowed("none".into()))
        );
    }
    // HMAC keyed with the RSA public key (the classic confusion) never gets near a key.
    let public = f.rsa.public().as_ref().to_vec();
    let input = unsigned(&json!({"alg": "HS256", "kid": "r1"}), &claims());
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &public),
        input.as_bytes(),
    );
    let hs256 = format!("{input}.{}", b64(tag.as_ref()));
    assert_eq!(
        f.check(&hs256, &p),
        Err(Rejection::AlgorithmNotAllowed("HS256".into()))
    );
    for alg in ["RS384", "PS256", "ES384", "EdDSA", "rs256", ""] {
        let token = sign_rs256(&f.rsa, &json!({"alg": alg, "kid": "r1"}), &claims());
        assert_eq!(
            f.check(&token, &p),
            Err(Rejection::AlgorithmNotAllowed(alg.into())),
            "{alg}"
        );
    }
    let no_alg = sign_rs256(&f.rsa, &json!({"kid": "r1"}), &claims());
    assert_eq!(
        f.check(&no_alg, &p),
        Err(Rejection::Malformed("header has no alg"))
    );
    let crit = sign_rs256(
        &f.rsa,
        &json!({"alg": "RS256", "kid": "r1", "crit": ["b64"], "b64": false}),
        &claims(),
    );
    assert!(matches!(f.check(&crit, &p), Err(Rejection::Malformed(_))));
}

#[test]
fn an_algorithm_must_match_its_keys_type_and_declared_alg() {
    let f = fixture();
    let p = provider("sub", &[]);
    // ES256 claimed with the RSA key's kid, and RS256 with the EC key's.
    let es_on_rsa = sign_es256(&f.ec, &json!({"alg": "ES256", "kid": "r1"}), &claims());
    assert!(matches!(
        f.check(&es_on_rsa, &p),
        Err(Rejection::AlgorithmMismatch { alg: "ES256", .. })
    ));
    let rs_on_ec = sign_rs256(&f.rsa, &json!({"alg": "RS256", "kid": "e1"}), &claims());
    assert!(matches!(
        f.check(&rs_on_ec, &p),
        Err(Rejection::AlgorithmMismatch { alg: "RS256", .. })
    ));
    // An RSA key published for RS512 does not verify RS256.
    let mut jwk = rsa_jwk(&f.rsa, "r1");
    jwk["alg"] = json!("RS512");
    let keys = key_set(vec![jwk]);
    let error = verify(&f.rs(&claims()), &keys, &p, NOW).unwrap_err();
    assert!(
        error.to_string().starts_with("algorithm not allowed"),
        "{error}"
    );
}

#[test]
fn signatures_must_verify() {
    let f = fixture();
    let p = provider("sub", &[]);
    let token = f.rs(&claims());
    let (input, signature) = token.rsplit_once('.').unwrap();
    let (header, _) = input.split_once('.').unwrap();
    // The payload changed after signing.
    let forged = b64(with(claims(), "sub", json!("admin")).to_string().as_bytes());
    let tampered = format!("{header}.{forged}.{signature}");
    assert_eq!(f.check(&tampered, &p), Err(Rejection::BadSignature));
    // Signed by another key with the right kid; a truncated signature; no signature at all.
    let other = ec();
    let foreign = sign_es256(&other, &json!({"alg": "ES256", "kid": "e1"}), &claims());
    assert_eq!(f.check(&foreign, &p), Err(Rejection::BadSignature));
    let short = format!("{input}.{}", &signature[..20]);
    assert_eq!(f.check(&short, &p), Err(Rejection::BadSignature));
    assert_eq!(
        f.check(&format!("{input}."), &p),
        Err(Rejection::BadSignature)
    );
    // Reported with the reason the caller sees.
    assert_eq!(Rejection::BadSignature.to_string(), "bad signature");
}

#[test]
fn keys_are_found_by_kid_or_as_the_only_fitting_key() {
    let f = fixture();
    let p = provider("sub", &[]);
    let unknown = sign_rs256(&f.rsa, &json!({"alg": "RS256", "kid": "r9"}), &claims());
    let token = UnverifiedToken::parse(&unknown).unwrap();
    assert!(f.keys.lacks(&token));
    assert_eq!(
        f.check(&unknown, &p).unwrap_err().to_string(),
        "unknown key: no key \"r9\" in the identity provider's key set"
    );
    // No kid: the only RSA key (and the only EC key) is used.
    let no_kid = sign_rs256(&f.rsa, &json!({"alg": "RS256"}), &claims());
    assert_eq!(f.check(&no_kid, &p).unwrap(), "u-123");
    let no_kid = sign_es256(&f.ec, &json!({"alg": "ES256"}), &claims());
    assert_eq!(f.check(&no_kid, &p).unwrap(), "u-123");
    // ... but not when two keys would fit.
    let two = key_set(vec![rsa_jwk(&f.rsa, "r1"), rsa_jwk(&f.rsa, "r2")]);
    let no_kid = sign_rs256(&f.rsa, &json!({"alg": "RS256"}), &claims());
    assert!(matches!(
        verify(&no_kid, &two, &p, NOW),
        Err(Rejection::UnknownKey(_))
    ));
    // One kid for two keys of different types: the fitting one is chosen.
    let shared = key_set(vec![ec_jwk(&f.ec, "k"), rsa_jwk(&f.rsa, "k")]);
    let token = sign_rs256(&f.rsa, &json!({"alg": "RS256", "kid": "k"}), &claims());
    assert_eq!(verify(&token, &shared, &p, NOW).unwrap().user_id, "u-123");
}

#[test]
fn expiry_and_not_before_allow_a_minute_of_skew() {
    let f = fixture();
    let p = provider("sub", &[]);
    let at = |exp: i64| f.rs(&with(claims(), "exp", json!(exp)));
    assert!(f.check(&at(NOW - LEEWAY_SECS + 1), &p).is_ok());
    assert_eq!(f.check(&at(NOW - LEEWAY_SECS), &p), Err(Rejection::Expired));
    assert_eq!(f.check(&at(NOW - 3600), &p), Err(Rejection::Expired));
    assert_eq!(Rejection::Expired.to_string(), "token has expired");
    let fractional = f.rs(&with(claims(), "exp", json!(NOW as f64 + 0.5)));
    assert!(f.check(&fractional, &p).is_ok());
    let no_exp = f.rs(&with(claims(), "exp", Value::Null));
    assert_eq!(
        f.check(&no_exp, &p),
        Err(Rejection::Malformed("token has no exp"))
    );
    let text_exp = f.rs(&with(claims(), "exp", json!("tomorrow")));
    assert!(matches!(
        f.check(&text_exp, &p),
        Err(Rejection::Malformed(_))
    ));

    let nbf = |nbf: i64| f.rs(&with(claims(), "nbf", json!(nbf)));
    assert!(f.check(&nbf(NOW + LEEWAY_SECS), &p).is_ok());
    assert_eq!(
        f.check(&nbf(NOW + LEEWAY_SECS + 1), &p),
        Err(Rejection::NotYetValid)
    );
}

#[test]
fn issuer_must_match_exactly_and_audience_must_be_one_configured() {
    let f = fixture();
    let p = provider("sub", &[]);
    for iss in [
        json!("https://idp.example.com"),
        json!("https://evil.example.com/"),
        Value::Null,
        json!(1),
    ] {
        let token = f.rs(&with(claims(), "iss", iss.clone()));
        assert_eq!(f.check(&token, &p), Err(Rejection::WrongIssuer), "{iss}");
    }
    for aud in [json!("client-0"), json!(["other", "client-1"])] {
        let token = f.rs(&with(claims(), "aud", aud.clone()));
        assert!(f.check(&token, &p).is_ok(), "{aud}");
    }
    for aud in [json!("client-2"), json!(["other"]), json!([]), Value::Null] {
        let token = f.rs(&with(claims(), "aud", aud.clone()));
        assert_eq!(f.check(&token, &p), Err(Rejection::WrongAudience), "{aud}");
    }
    // No audiences configured: aud is not checked.
    let mut any = provider("sub", &[]);
    any.identity_provider.audiences.clear();
    let token = f.rs(&with(claims(), "aud", json!("whatever")));
    assert!(f.check(&token, &any).is_ok());
}

#[test]
fn the_user_claim_must_be_present_and_usable() {
    let f = fixture();
    for (claim, value) in [
        ("sub", Value::Null),
        ("sub", json!("")),
        ("sub", json!("a\nb")),
        ("sub", json!("jörg@example.com")),
        ("sub", json!({"id": 1})),
        ("sub", json!("x".repeat(513))),
        ("preferred_username", Value::Null),
    ] {
        let token = f.rs(&with(claims(), claim, value.clone()));
        assert_eq!(
            f.check(&token, &provider(claim, &[])),
            Err(Rejection::MissingUserClaim(claim.into())),
            "{claim} = {value}"
        );
    }
}

#[test]
fn allowed_domains_are_enforced_on_emails() {
    let f = fixture();
    let email = provider("email", &["example.com", "acme.io"]);
    // Case-insensitive, the domain after the last '@'.
    assert_eq!(
        f.check(&f.rs(&claims()), &email).unwrap(),
        "Alice@Example.com"
    );
    let other = f.rs(&with(claims(), "email", json!("mallory@evil.com")));
    assert_eq!(
        f.check(&other, &email).unwrap_err().to_string(),
        "domain not allowed: \"evil.com\" is not one of the identity provider's allowedDomains"
    );
    let sneaky = f.rs(&with(claims(), "email", json!("a@example.com@evil.com")));
    assert!(matches!(
        f.check(&sneaky, &email),
        Err(Rejection::DomainNotAllowed(_))
    ));
    let subdomain = f.rs(&with(claims(), "email", json!("a@mail.example.com")));
    assert!(matches!(
        f.check(&subdomain, &email),
        Err(Rejection::DomainNotAllowed(_))
    ));
    let unverified = f.rs(&with(claims(), "email_verified", json!(false)));
    assert!(matches!(
        f.check(&unverified, &email),
        Err(Rejection::DomainNotAllowed(_))
    ));
    let verified = f.rs(&with(claims(), "email_verified", json!(true)));
    assert!(f.check(&verified, &email).is_ok());

    // An identity that is not an email is checked by the token's email claim, and refused
    // without one: the domains were configured to limit who gets in.
    let sub = provider("sub", &["example.com"]);
    assert_eq!(f.check(&f.rs(&claims()), &sub).unwrap(), "u-123");
    let elsewhere = f.rs(&with(claims(), "email", json!("u@evil.com")));
    assert!(matches!(
        f.check(&elsewhere, &sub),
        Err(Rejection::DomainNotAllowed(_))
    ));
    let no_email = f.rs(&with(claims(), "email", Value::Null));
    assert!(matches!(
        f.check(&no_email, &sub),
        Err(Rejection::DomainNotAllowed(_))
    ));
    // No domains: anyone the provider vouches for.
    assert!(f.check(&elsewhere, &provider("email", &[])).is_ok());
}

#[test]
fn malformed_tokens_are_refused() {
    let f = fixture();
    let p = provider("sub", &[]);
    assert_eq!(f.check("", &p), Err(Rejection::Missing));
    assert_eq!(f.check("   ", &p), Err(Rejection::Missing));
    let token = f.rs(&claims());
    for bad in [
        "abc".to_owned(),
        "a.b".to_owned(),
        format!("{token}.x.y"),
        format!("!!.{token}"),
        format!("{token}="),
        "e30.e30.AAAA".to_owned(),
        format!("{}.e30.AAAA", b64(b"[1]")),
        format!("{}.e30.AAAA", b64(br#"{"alg": "RS256", "kid": 7}"#)),
        "x".repeat(MAX_TOKEN_LEN + 1),
    ] {
        assert!(
            matches!(f.check(&bad, &p), Err(Rejection::Malformed(_))),
            "{bad:.40}"
        );
    }
    // A payload that is not JSON, validly signed, is malformed rather than accepted.
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"RS256","kid":"r1"}"#),
        b64(b"not json")
    );
    let mut signature = vec![0; f.rsa.public().modulus_len()];
    f.rsa
        .sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut signature,
        )
        .unwrap();
    let token = format!("{input}.{}", b64(&signature));
    assert_eq!(
        f.check(&token, &p),
        Err(Rejection::Malformed("payload is not JSON"))
    );
}

#[test]
fn key_sets_keep_only_usable_signing_keys() {
    let f = fixture();
    let rsa = rsa_jwk(&f.rsa, "r1");
    let mut padded = rsa.clone();
    // A modulus with a leading zero byte is the same key.
    let n = URL_SAFE_NO_PAD.decode(rsa["n"].as_str().unwrap()).unwrap();
    padded["n"] = json!(b64(&[&[0u8][..], &n].concat()));
    padded["kid"] = json!("padded");
    let keys = key_set(vec![
        rsa.clone(),
        padded,
        ec_jwk(&f.ec, "e1"),
        json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": rsa["n"], "e": rsa["e"]}),
        json!({"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"}),
        json!({"kty": "EC", "kid": "short", "crv": "P-256", "x": "AAAA", "y": "AAAA"}),
        json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
        json!({"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"}),
        json!("not a key"),
    ]);
    assert_eq!(keys.len(), 3);
    let token = sign_rs256(&f.rsa, &json!({"alg": "RS256", "kid": "padded"}), &claims());
    assert!(verify(&token, &keys, &provider("sub", &[]), NOW).is_ok());

    assert!(KeySet::parse(b"{\"keys\": []}").unwrap().is_empty());
    assert!(KeySet::parse(b"<html>").is_err());
    assert!(KeySet::parse(b"{\"keys\": {}}").is_err());
    assert!(KeySet::parse(b"[]").is_err());
}
