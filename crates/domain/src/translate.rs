//! Natural language to policy rules, without a model: a small, predictable keyword reader.
//! "Allow Google Workspace reads and require approval for writes" becomes an `allow GET` rule
//! and an `approval_required POST/PUT/PATCH/DELETE` rule for Google's APIs. The output is a
//! draft for review, like any translation.

use crate::Invalid;
use crate::policy::{Permission, Rule};

/// Services people name, and the API base their rules should cover.
const SERVICES: [(&str, &str); 9] = [
    ("google", "https://www.googleapis.com/*"),
    ("gmail", "https://gmail.googleapis.com/*"),
    ("stripe", "https://api.stripe.com/*"),
    ("slack", "https://slack.com/api/*"),
    ("github", "https://api.github.com/*"),
    ("salesforce", "https://*"),
    ("hubspot", "https://api.hubapi.com/*"),
    ("jira", "https://*"),
    ("notion", "https://api.notion.com/*"),
];

const READS: [&str; 3] = ["GET", "HEAD", "OPTIONS"];
const WRITES: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

fn words(clause: &str) -> Vec<String> {
    clause
        .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn permission(words: &[String]) -> Option<Permission> {
    let has = |options: &[&str]| words.iter().any(|w| options.contains(&w.as_str()));
    if has(&[
        "deny", "block", "forbid", "prevent", "never", "disallow", "prohibit", "reject",
    ]) || (has(&["don't", "dont", "not"]) && has(&["allow", "let", "permit"]))
    {
        Some(Permission::Deny)
    } else if has(&[
        "approval", "approve", "approved", "review", "reviewed", "sign-off", "human", "confirm",
    ]) {
        Some(Permission::ApprovalRequired)
    } else if has(&[
        "allow", "allowed", "permit", "let", "can", "may", "enable", "grant",
    ]) {
        Some(Permission::Allow)
    } else {
        None
    }
}

fn operations(words: &[String]) -> Vec<String> {
    let mut methods: Vec<&str> = Vec::new();
    for word in words {
        let found: &[&str] = match word.as_str() {
            "read" | "reads" | "reading" | "get" | "list" | "view" | "fetch" | "search" => &READS,
            "write" | "writes" | "writing" | "change" | "changes" | "modify" | "modifications" => {
                &WRITES
            }
            "create" | "creates" | "send" | "sends" | "post" | "charge" | "charges" => &["POST"],
            "update" | "updates" | "edit" | "edits" => &["PUT", "PATCH"],
            "delete" | "deletes" | "deletion" | "deletions" | "remove" | "removes" | "destroy" => {
                &["DELETE"]
            }
            _ => &[],
        };
        for method in found {
            if !methods.contains(method) {
                methods.push(method);
            }
        }
    }
    methods.into_iter().map(str::to_owned).collect()
}

fn resource(clause: &str, words: &[String]) -> String {
    if let Some(url) = clause
        .split_whitespace()
        .find(|w| w.starts_with("https://") || w.starts_with("http://"))
    {
        let url = url.trim_end_matches([',', '.', ';', ')']);
        return if url.ends_with('*') {
            url.to_owned()
        } else {
            format!("{}/*", url.trim_end_matches('/'))
        };
    }
    SERVICES
        .iter()
        .find(|(name, _)| words.iter().any(|w| w == name))
        .map(|(_, base)| (*base).to_owned())
        .unwrap_or_default()
}

fn tags(words: &[String]) -> Vec<String> {
    ["financial", "pii", "destructive"]
        .iter()
        .filter(|tag| words.iter().any(|w| w == *tag))
        .map(|tag| (*tag).to_owned())
        .collect()
}

/// Reads each clause ("…, and …", "…; …", "… but …") into at most one rule.
pub fn translate(text: &str) -> Result<Vec<Rule>, Invalid> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Invalid::new("text is required"));
    }
    // Sentence ends are ". " (a bare '.' would split URLs).
    let clauses = text
        .replace(". ", ";")
        .replace(" but ", ";")
        .replace(" and ", ";")
        .replace(" then ", ";");
    let mut rules = Vec::new();
    let mut last_resource = String::new();
    for clause in clauses.split([';', ',', '\n']) {
        let words = words(clause);
        let Some(permission) = permission(&words) else {
            continue;
        };
        let mut resource = resource(clause, &words);
        // "Allow Stripe reads and require approval for writes": the second clause means Stripe too.
        if resource.is_empty() {
            resource.clone_from(&last_resource);
        } else {
            last_resource.clone_from(&resource);
        }
        rules.push(Rule {
            permission,
            operations: operations(&words),
            resource,
            tags: tags(&words),
        });
    }
    if rules.is_empty() {
        return Err(Invalid::new(
            "found no rule in the text: say allow, deny or require approval, and for what (reads, writes, deletes, a service or a URL)",
        ));
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_allowed_writes_need_approval() {
        let rules =
            translate("Allow Google Workspace reads and require approval for writes").unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(
            (rules[0].permission, rules[0].operations.clone()),
            (
                Permission::Allow,
                vec!["GET".into(), "HEAD".into(), "OPTIONS".into()]
            )
        );
        assert_eq!(rules[0].resource, "https://www.googleapis.com/*");
        assert_eq!(rules[1].permission, Permission::ApprovalRequired);
        assert_eq!(rules[1].operations, vec!["POST", "PUT", "PATCH", "DELETE"]);
        assert_eq!(rules[1].resource, "https://www.googleapis.com/*");
    }

    #[test]
    fn deny_urls_and_tags() {
        let rules = translate("Never delete anything on https://api.stripe.com; require approval for financial charges").unwrap();
        assert_eq!(rules[0].permission, Permission::Deny);
        assert_eq!(rules[0].operations, vec!["DELETE"]);
        assert_eq!(rules[0].resource, "https://api.stripe.com/*");
        assert_eq!(rules[1].tags, vec!["financial"]);
        assert_eq!(rules[1].operations, vec!["POST"]);
    }

    #[test]
    fn every_translated_rule_is_a_valid_rule() {
        for text in [
            "Allow Google Workspace reads and require approval for writes",
            "block slack deletes, let github reads",
        ] {
            for rule in translate(text).unwrap() {
                crate::policy::resource_pattern("resource", &rule.resource).unwrap();
            }
        }
    }

    #[test]
    fn nothing_understood_is_an_error() {
        assert!(translate("").is_err());
        assert!(translate("the weather is nice").is_err());
    }
}
