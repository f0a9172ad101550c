//! Workspace API keys: `ra_ws_` followed by 43 base64url characters (256 random bits).
//! Only a SHA-256 of the token is stored; with 256-bit random tokens a plain hash suffices.

use ring::digest::{SHA256, digest};
use serde_json::Value;

use crate::Invalid;

pub const PREFIX: &str = "ra_ws_";
pub const HEADER: &str = "X-RunAgents-API-Key";

/// Builds the token text from 32 random bytes.
pub fn token_from_bytes(bytes: &[u8; 32]) -> String {
    encode_token(PREFIX, bytes)
}

/// `prefix` followed by the bytes in unpadded base64url (43 characters for 32 bytes).
pub fn encode_token(prefix: &str, bytes: &[u8; 32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut token = String::from(prefix);
    let mut bits: u32 = 0;
    let mut count = 0;
    for byte in bytes {
        bits = (bits << 8) | u32::from(*byte);
        count += 8;
        while count >= 6 {
            count -= 6;
            token.push(ALPHABET[((bits >> count) & 63) as usize] as char);
        }
    }
    if count > 0 {
        token.push(ALPHABET[((bits << (6 - count)) & 63) as usize] as char);
    }
    token
}

pub fn hash(token: &str) -> String {
    crate::hex::encode(digest(&SHA256, token.as_bytes()).as_ref())
}

pub fn last4(token: &str) -> String {
    token
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

/// Does this look like one of our tokens (before any lookup)?
pub fn looks_like_token(text: &str) -> bool {
    text.len() == PREFIX.len() + 43 && text.starts_with(PREFIX)
}

/// `{name, expiresInDays?, role?, subject?, groups?}` for a new key.
#[derive(Debug, PartialEq)]
pub struct NewKey {
    pub name: String,
    pub expires_in_days: Option<i64>,
    pub admin: bool,
    /// Who the key's owner is, recorded as the approver of their decisions; the name if absent.
    pub subject: String,
    /// The approver groups the owner holds (see `approver`).
    pub groups: Vec<String>,
}

pub fn parse_new_key(body: &Value) -> Result<NewKey, Invalid> {
    let Value::Object(doc) = body else {
        return Err(Invalid::new("request body must be a JSON object"));
    };
    let name = match doc.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() && name.trim().len() <= 100 => {
            name.trim().to_owned()
        }
        Some(Value::String(_)) | None => {
            return Err(Invalid::new("name is required (1-100 characters)"));
        }
        Some(_) => return Err(Invalid::new("name must be a string")),
    };
    let admin = match doc.get("role") {
        None | Some(Value::Null) => false,
        Some(Value::String(role)) if role == "member" => false,
        Some(Value::String(role)) if role == "admin" => true,
        Some(other) => {
            return Err(Invalid(format!(
                "role {other} is not one of \"member\", \"admin\""
            )));
        }
    };
    let subject = match doc.get("subject") {
        None | Some(Value::Null) => name.clone(),
        Some(subject) => crate::approver::parse_subject("subject", subject)?,
    };
    let groups = match doc.get("groups") {
        None | Some(Value::Null) => Vec::new(),
        Some(groups) => crate::approver::parse_groups("groups", groups)?,
    };
    Ok(NewKey {
        name,
        expires_in_days: expires_in_days(body)?,
        admin,
        subject,
        groups,
    })
}

/// Reads an optional `expiresInDays` (an integer from 1 to 3650).
pub fn expires_in_days(body: &Value) -> Result<Option<i64>, Invalid> {
    match body
        .get("expiresInDays")
        .or_else(|| body.get("expires_in_days"))
    {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(days)) => match days.as_i64() {
            Some(days @ 1..=3650) => Ok(Some(days)),
            _ => Err(Invalid::new(
                "expiresInDays must be a whole number of days from 1 to 3650",
            )),
        },
        Some(_) => Err(Invalid::new("expiresInDays must be a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_shape() {
        let token = token_from_bytes(&[0xAB; 32]);
        assert!(looks_like_token(&token), "{token}");
        assert!(
            token[PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(last4(&token), &token[token.len() - 4..]);
        assert_ne!(token_from_bytes(&[0; 32]), token_from_bytes(&[1; 32]));
        assert!(!looks_like_token("ra_ws_short"));
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn new_key_input() {
        assert_eq!(
            parse_new_key(&json!({"name": "ci", "expiresInDays": 30})).unwrap(),
            NewKey {
                name: "ci".into(),
                expires_in_days: Some(30),
                admin: false,
                subject: "ci".into(),
                groups: Vec::new(),
            }
        );
        let owned =
            parse_new_key(&json!({"name": "ann-laptop", "subject": " ann@example.com ", "groups": ["finance", "sre"]}))
                .unwrap();
        assert_eq!(
            (owned.subject.as_str(), owned.groups),
            (
                "ann@example.com",
                vec!["finance".to_owned(), "sre".to_owned()]
            )
        );
        assert!(
            parse_new_key(&json!({"name": "ci", "role": "admin"}))
                .unwrap()
                .admin
        );
        for bad in [
            json!({}),
            json!({"name": ""}),
            json!({"name": 5}),
            json!({"name": "x", "expiresInDays": 0}),
            json!({"name": "x", "expiresInDays": "7"}),
            json!({"name": "x", "role": "root"}),
            json!({"name": "x", "subject": ""}),
            json!({"name": "x", "groups": "finance"}),
            json!({"name": "x", "groups": [""]}),
        ] {
            assert!(parse_new_key(&bad).is_err(), "{bad}");
        }
    }
}
