//! AWS Signature Version 4 for one request, on ring's SHA-256 and HMAC: the `Authorization`
//! header Bedrock checks. Pure: the caller gives the time, so signatures are reproducible and
//! tested against AWS's published example.

use ring::{digest, hmac};
use runagents_domain::hex;

/// What a signature is made for.
pub struct Request<'a> {
    pub method: &'a str,
    /// Host, with the port when it is not the scheme's default.
    pub host: &'a str,
    /// The path as sent (already percent-encoded).
    pub path: &'a str,
    /// `key=value&...`, already sorted and encoded; empty for none.
    pub query: &'a str,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

/// The `Authorization` header for `request` made at `amz_date` (`YYYYMMDDTHHMMSSZ`, also sent
/// as `X-Amz-Date`).
pub fn authorization(
    request: &Request<'_>,
    credentials: &Credentials<'_>,
    amz_date: &str,
) -> String {
    let date = &amz_date[..amz_date.len().min(8)];
    let mut headers: Vec<(&str, &str)> = vec![("host", request.host), ("x-amz-date", amz_date)];
    if let Some(content_type) = request.content_type {
        headers.push(("content-type", content_type));
    }
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{}\n", value.trim()))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        canonical_path(request.path),
        request.query,
        hex::encode(digest::digest(&digest::SHA256, request.body).as_ref()),
    );
    let scope = format!(
        "{date}/{}/{}/aws4_request",
        credentials.region, credentials.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
    );
    let mut key = sign(
        format!("AWS4{}", credentials.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [credentials.region, credentials.service, "aws4_request"] {
        key = sign(&key, part.as_bytes());
    }
    let signature = hex::encode(&sign(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    )
}

/// Every service but S3 signs the path with each segment encoded once more.
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    path.split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|byte| match byte {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        char::from(byte).to_string()
                    }
                    other => format!("%{other:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn sign(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's Signature Version 4 test suite, `get-vanilla`.
    #[test]
    fn matches_the_aws_test_suite() {
        let request = Request {
            method: "GET",
            host: "example.amazonaws.com",
            path: "/",
            query: "",
            content_type: None,
            body: b"",
        };
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
            service: "service",
        };
        assert_eq!(
            authorization(&request, &credentials, "20150830T123600Z"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn encoded_path_segments_are_encoded_again() {
        assert_eq!(
            canonical_path("/model/anthropic.claude-v2%3A1/converse"),
            "/model/anthropic.claude-v2%253A1/converse"
        );
        assert_eq!(canonical_path(""), "/");
    }
}
