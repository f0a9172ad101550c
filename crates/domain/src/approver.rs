//! Approver authority: who decides an access request, through which channel, and whether a
//! request's approval rule lets them.
//!
//! An approver is a subject (who, for the audit trail) and the groups they hold. Operators get
//! theirs from their API key; a person deciding in Slack or Jira gets theirs from the
//! connector's `approver_map`; whoever holds a signed decision link gets the identity of the
//! connector that carried it (`link_approver`). A rule naming no groups lets any operator
//! decide, as before approver groups existed.
//!
//! Invariants: group names compare exactly (after trimming), so `Finance` is not `finance`; a
//! rule whose groups are all blank admits nobody rather than everybody (fail closed). Holding
//! groups is authority, so granting groups one does not hold needs an admin (`may_grant`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Invalid;
use crate::policy::{ApproverMatch, Approvers};

pub const MAX_GROUPS: usize = 64;
pub const MAX_GROUP_CHARS: usize = 128;
pub const MAX_SUBJECT_CHARS: usize = 200;

/// Who decides: a subject and the groups they hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approver {
    /// Empty where a default applies (a connector entry without one).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// Where a decision came from, recorded with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// An API key (the API, the CLI, the SDK and MCP all send one; they look alike).
    Api,
    /// A console session.
    Console,
    /// A Slack button.
    Slack,
    /// A webhook receiver calling back a decision link.
    Webhook,
    /// A decision link from a Teams card.
    Teams,
    /// A Jira transition, or a decision link in a Jira issue.
    Jira,
    /// A decision link from any other connector (a PagerDuty incident), or one whose connector
    /// is gone.
    Link,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Api => "api",
            Channel::Console => "console",
            Channel::Slack => "slack",
            Channel::Webhook => "webhook",
            Channel::Teams => "teams",
            Channel::Jira => "jira",
            Channel::Link => "link",
        }
    }

    /// Decisions made by an operator in the platform itself, not through a connector.
    pub fn is_operator(self) -> bool {
        matches!(self, Channel::Api | Channel::Console)
    }
}

/// Why someone may not decide a request, written for them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

fn quoted(groups: &[&str]) -> String {
    groups
        .iter()
        .map(|group| format!("{group:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `approver` may decide a request whose approval rule names `rule`: with no groups,
/// anyone may; with `match: any`, holding one of them; with `match: all`, holding every one.
pub fn may_decide(rule: &Approvers, approver: &Approver) -> Result<(), Refusal> {
    if rule.groups.is_empty() {
        return Ok(());
    }
    let required: Vec<&str> = rule.groups.iter().map(|g| g.trim()).collect();
    let holds =
        |group: &str| !group.is_empty() && approver.groups.iter().any(|held| held.trim() == group);
    let (who, is) = if approver.subject.is_empty() {
        ("you", "are")
    } else {
        (approver.subject.as_str(), "is")
    };
    match rule.matching {
        ApproverMatch::Any if required.iter().any(|g| holds(g)) => Ok(()),
        ApproverMatch::Any if required.len() == 1 => Err(Refusal(format!(
            "only approvers in group {} may decide this request; {who} {is} not in it",
            quoted(&required)
        ))),
        ApproverMatch::Any => Err(Refusal(format!(
            "only approvers in any of the groups {} may decide this request; {who} {is} in none of them",
            quoted(&required)
        ))),
        ApproverMatch::All => {
            let missing: Vec<&str> = required.iter().copied().filter(|g| !holds(g)).collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(Refusal(format!(
                    "only approvers in all of the groups {} may decide this request; {who} {is} not in {}",
                    quoted(&required),
                    quoted(&missing)
                )))
            }
        }
    }
}

/// Whether a caller holding `own` groups may give `granted` to a key or a connector identity:
/// an admin may give any; anyone else only groups they hold themselves.
pub fn may_grant(granted: &[String], own: &[String], admin: bool) -> Result<(), Refusal> {
    if admin {
        return Ok(());
    }
    let foreign: Vec<&str> = granted
        .iter()
        .map(String::as_str)
        .filter(|group| !own.iter().any(|held| held == group))
        .collect();
    if foreign.is_empty() {
        Ok(())
    } else {
        Err(Refusal(format!(
            "only an admin key can grant approver groups it does not hold: {}",
            quoted(&foreign)
        )))
    }
}

/// A list of group names: strings of 1 to 128 characters without control characters, at most
/// 64, trimmed, duplicates dropped (first kept).
pub fn parse_groups(field: &str, value: &Value) -> Result<Vec<String>, Invalid> {
    let Value::Array(items) = value else {
        return Err(Invalid(format!("{field} must be a list of group names")));
    };
    if items.len() > MAX_GROUPS {
        return Err(Invalid(format!(
            "{field} may name at most {MAX_GROUPS} groups"
        )));
    }
    let mut groups: Vec<String> = Vec::new();
    for item in items {
        let Value::String(group) = item else {
            return Err(Invalid(format!("{field} must contain only strings")));
        };
        let group = group.trim();
        if group.is_empty()
            || group.chars().count() > MAX_GROUP_CHARS
            || group.chars().any(char::is_control)
        {
            return Err(Invalid(format!(
                "{field}: {group:?} is not a group name (1 to {MAX_GROUP_CHARS} characters, no control characters)"
            )));
        }
        if !groups.iter().any(|seen| seen == group) {
            groups.push(group.to_owned());
        }
    }
    Ok(groups)
}

/// A subject: 1 to 200 characters without control characters, trimmed.
pub fn parse_subject(field: &str, value: &Value) -> Result<String, Invalid> {
    let Value::String(subject) = value else {
        return Err(Invalid(format!("{field} must be a string")));
    };
    let subject = subject.trim();
    if subject.is_empty()
        || subject.chars().count() > MAX_SUBJECT_CHARS
        || subject.chars().any(char::is_control)
    {
        return Err(Invalid(format!(
            "{field} must be 1 to {MAX_SUBJECT_CHARS} characters, without control characters"
        )));
    }
    Ok(subject.to_owned())
}

/// `{subject?, groups?}`: an identity a connector gives to whoever decides through it.
pub fn parse_approver(field: &str, value: &Value) -> Result<Approver, Invalid> {
    let Value::Object(doc) = value else {
        return Err(Invalid(format!(
            "{field} must be an object with subject and groups"
        )));
    };
    let mut approver = Approver::default();
    for (key, value) in doc {
        match (key.as_str(), value) {
            (_, Value::Null) => {}
            ("subject", value) => {
                approver.subject = parse_subject(&format!("{field}.subject"), value)?
            }
            ("groups", value) => approver.groups = parse_groups(&format!("{field}.groups"), value)?,
            (other, _) => {
                return Err(Invalid(format!(
                    "{field}.{other} is not a field of an approver (subject, groups)"
                )));
            }
        }
    }
    Ok(approver)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(groups: &[&str], matching: ApproverMatch) -> Approvers {
        Approvers {
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            matching,
        }
    }

    fn who(subject: &str, groups: &[&str]) -> Approver {
        Approver {
            subject: subject.into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    #[test]
    fn a_rule_without_groups_lets_anyone_decide() {
        assert_eq!(
            may_decide(&Approvers::default(), &who("anyone", &[])),
            Ok(())
        );
    }

    #[test]
    fn any_needs_one_group_and_names_the_groups_when_refusing() {
        let finance = rule(&["finance", "payments"], ApproverMatch::Any);
        assert_eq!(
            may_decide(&finance, &who("ann", &["ops", "payments"])),
            Ok(())
        );
        let refused = may_decide(&finance, &who("bob", &["ops"])).unwrap_err();
        assert_eq!(
            refused.0,
            "only approvers in any of the groups \"finance\", \"payments\" may decide this request; bob is in none of them"
        );
        let one = rule(&["finance"], ApproverMatch::Any);
        assert_eq!(
            may_decide(&one, &who("", &[])).unwrap_err().0,
            "only approvers in group \"finance\" may decide this request; you are not in it"
        );
    }

    #[test]
    fn all_needs_every_group_and_names_the_missing_ones() {
        let both = rule(&["finance", "legal"], ApproverMatch::All);
        assert_eq!(
            may_decide(&both, &who("ann", &["legal", "finance"])),
            Ok(())
        );
        let refused = may_decide(&both, &who("bob", &["finance"])).unwrap_err();
        assert!(refused.0.ends_with("bob is not in \"legal\""), "{refused}");
    }

    #[test]
    fn groups_compare_exactly_after_trimming_and_blank_groups_admit_nobody() {
        let finance = rule(&[" finance "], ApproverMatch::Any);
        assert_eq!(may_decide(&finance, &who("a", &["finance"])), Ok(()));
        assert!(may_decide(&finance, &who("a", &["Finance"])).is_err());
        let blank = rule(&["", " "], ApproverMatch::Any);
        assert!(may_decide(&blank, &who("a", &["", " "])).is_err());
        let blank_all = rule(&[""], ApproverMatch::All);
        assert!(may_decide(&blank_all, &who("a", &[""])).is_err());
    }

    #[test]
    fn granting_groups_one_does_not_hold_needs_an_admin() {
        let own = vec!["finance".to_owned()];
        assert_eq!(may_grant(&["finance".into()], &own, false), Ok(()));
        assert_eq!(may_grant(&[], &[], false), Ok(()));
        assert_eq!(may_grant(&["legal".into()], &own, true), Ok(()));
        let refused = may_grant(&["finance".into(), "legal".into()], &own, false).unwrap_err();
        assert_eq!(
            refused.0,
            "only an admin key can grant approver groups it does not hold: \"legal\""
        );
    }

    #[test]
    fn parses_groups_subjects_and_approvers() {
        assert_eq!(
            parse_groups("groups", &json!([" finance ", "on-call: sre", "finance"])).unwrap(),
            ["finance", "on-call: sre"]
        );
        for bad in [
            json!("finance"),
            json!([""]),
            json!([5]),
            json!(["a\nb"]),
            json!(["x".repeat(129)]),
        ] {
            assert!(parse_groups("groups", &bad).is_err(), "{bad}");
        }
        assert!(
            parse_groups(
                "groups",
                &json!(
                    vec!["g"; 65]
                        .iter()
                        .enumerate()
                        .map(|(i, _)| format!("g{i}"))
                        .collect::<Vec<_>>()
                )
            )
            .is_err()
        );
        assert_eq!(
            parse_subject("subject", &json!(" ann@example.com ")).unwrap(),
            "ann@example.com"
        );
        for bad in [json!(""), json!(1), json!("a\tb")] {
            assert!(parse_subject("subject", &bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_approver(
                "link_approver",
                &json!({"subject": "release-bot", "groups": ["release"]})
            )
            .unwrap(),
            who("release-bot", &["release"])
        );
        assert_eq!(
            parse_approver("a", &json!({})).unwrap(),
            Approver::default()
        );
        let error = parse_approver("a", &json!({"role": "admin"})).unwrap_err();
        assert!(error.0.contains("a.role"), "{error}");
        assert!(parse_approver("a", &json!(["x"])).is_err());
    }

    #[test]
    fn channels_read_as_recorded() {
        assert_eq!(Channel::Slack.as_str(), "slack");
        assert_eq!(json!(Channel::Console), json!("console"));
        assert!(Channel::Api.is_operator() && Channel::Console.is_operator());
        assert!(!Channel::Link.is_operator());
    }
}
