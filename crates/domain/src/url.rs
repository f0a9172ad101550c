//! URL checks shared by tools, providers, identity providers and connectors.

use crate::Invalid;

/// An absolute http(s) URL with a host. Returns it without a trailing slash.
pub fn http_url(field: &str, raw: &str) -> Result<String, Invalid> {
    let text = raw.trim();
    let parsed = url::Url::parse(text)
        .map_err(|error| Invalid(format!("{field} {text:?} is not a valid URL: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(Invalid(format!(
            "{field} {text:?} must be an http:// or https:// URL with a host"
        )));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// Like [`http_url`], but only `https://`.
pub fn https_url(field: &str, raw: &str) -> Result<String, Invalid> {
    let text = http_url(field, raw)?;
    if !text.starts_with("https://") {
        return Err(Invalid(format!("{field} {text:?} must use https://")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_and_https() {
        assert_eq!(
            http_url("url", "https://api.stripe.com/").unwrap(),
            "https://api.stripe.com"
        );
        assert_eq!(
            http_url("url", "http://127.0.0.1:9000/v1").unwrap(),
            "http://127.0.0.1:9000/v1"
        );
    }

    #[test]
    fn rejects_other_schemes_and_garbage() {
        for raw in [
            "",
            "api.stripe.com",
            "ftp://x",
            "file:///etc/passwd",
            "https://",
            "not a url",
        ] {
            assert!(http_url("url", raw).is_err(), "{raw:?}");
        }
        assert!(https_url("url", "http://example.com").is_err());
    }
}
