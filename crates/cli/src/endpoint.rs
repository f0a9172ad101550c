//! The API base URL: the endpoint normalised exactly as the public Go CLI and Python SDK do
//! (`normalizeEndpoint` / `_normalize_endpoint`), then narrowed to a workspace if one is given.

/// The default endpoint of the public clients, which is where `runagents serve` listens.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:8092";

/// `https://h` → `https://h/api/v1`; `https://h/workspaces/w` → `https://h/api/v1/workspaces/w`;
/// an `/api/v1` or `/api/v1/workspaces/…` path is kept. Surrounding whitespace, trailing slashes,
/// the query and the fragment are dropped. Text that is not `scheme://host…` is returned trimmed.
pub fn normalize(endpoint: &str) -> String {
    let endpoint = endpoint.trim().trim_end_matches('/');
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return endpoint.to_owned();
    };
    let valid_scheme = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, after_host) = rest.split_at(host_end);
    if !valid_scheme || host.is_empty() {
        return endpoint.to_owned();
    }
    let path_end = after_host.find(['?', '#']).unwrap_or(after_host.len());
    let path = after_host[..path_end].trim_end_matches('/');
    let path = if path == "/api/v1" || path.starts_with("/api/v1/workspaces/") {
        path.to_owned()
    } else if path.starts_with("/workspaces/") {
        format!("/api/v1{path}")
    } else {
        format!("{path}/api/v1")
    };
    format!("{scheme}://{host}{path}")
        .trim_end_matches('/')
        .to_owned()
}

/// The base URL of one workspace: `{base up to /api/v1}/workspaces/{workspace}`. A workspace
/// already in the base is replaced.
pub fn with_workspace(base: &str, workspace: &str) -> String {
    let root = match base.find("/api/v1/workspaces/") {
        Some(at) => &base[..at + "/api/v1".len()],
        None => base,
    };
    format!("{root}/workspaces/{workspace}")
}

/// A workspace name goes into the URL path as it is, so it must be one path segment.
pub fn valid_workspace(workspace: &str) -> bool {
    !workspace.is_empty()
        && workspace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_the_documented_examples() {
        for (input, expected) in [
            ("http://localhost:8092", "http://localhost:8092/api/v1"),
            ("https://h/base", "https://h/base/api/v1"),
            (
                "https://acme.runagents.io/workspaces/revops",
                "https://acme.runagents.io/api/v1/workspaces/revops",
            ),
            (
                "https://1406e38143ac0e57.try.runagents.io/api/v1",
                "https://1406e38143ac0e57.try.runagents.io/api/v1",
            ),
            (
                "https://acme.runagents.io/api/v1/workspaces/acme/",
                "https://acme.runagents.io/api/v1/workspaces/acme",
            ),
            ("  http://127.0.0.1:9/  ", "http://127.0.0.1:9/api/v1"),
            ("http://h/api/v1/?x=1#frag", "http://h/api/v1"),
            ("http://h?token=1", "http://h/api/v1"),
            ("http://h/base/#top", "http://h/base/api/v1"),
            ("http://user:pw@h:8092", "http://user:pw@h:8092/api/v1"),
            // Only `/api/v1/workspaces/<ws>` is kept; a bare `/api/v1/workspaces` is a base path.
            (
                "http://h/api/v1/workspaces",
                "http://h/api/v1/workspaces/api/v1",
            ),
            ("http://h/api", "http://h/api/api/v1"),
        ] {
            assert_eq!(normalize(input), expected, "{input}");
        }
    }

    #[test]
    fn leaves_text_without_scheme_and_host_alone() {
        assert_eq!(normalize("localhost:8092/"), "localhost:8092");
        assert_eq!(normalize("http:///x"), "http:///x");
        assert_eq!(normalize("1http://h"), "1http://h");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn workspace_narrows_or_replaces() {
        assert_eq!(
            with_workspace("http://h/api/v1", "revops"),
            "http://h/api/v1/workspaces/revops"
        );
        assert_eq!(
            with_workspace("http://h/base/api/v1/workspaces/acme", "revops"),
            "http://h/base/api/v1/workspaces/revops"
        );
        assert!(valid_workspace("rev-ops_1"));
        assert!(!valid_workspace("a/b") && !valid_workspace("") && !valid_workspace("a?b"));
    }
}
