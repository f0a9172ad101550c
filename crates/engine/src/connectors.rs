//! Approval connectors: create, read, patch and delete them, the workspace delivery defaults,
//! the connector activity log, and connector tests (configuration, credentials, and a live
//! connectivity check against the connector's service).
//!
//! Invariant: header values live only in the secret store, one secret per header name. The
//! document lists the header names that belong to the connector and only those secrets are
//! used, so replacing the header set is one atomic document write; a removed header's secret is
//! overwritten with an empty value in that same write.

mod probe;

use runagents_domain::approver::may_grant;
use runagents_domain::connector::ConnectorType;
use runagents_domain::connector::{
    Activity, Check, ConnectorSpec, DEFAULTS_SETTING, Defaults, Fields, HeaderValue,
    SLACK_SIGNING_SECRET, SlackSecurityMode, Target, TestReport, check_headers, header,
    resolve_headers,
};
use runagents_domain::dispatch::JIRA_WEBHOOK_SECRET;
use runagents_domain::{Invalid, Secret, Timestamp, from_json};
use runagents_store::{ActivityRecord, Document, Kind, Write};
use serde_json::{Value, json};

use crate::{Caller, Engine, Error, Result, Role, not_found};

const WHAT: &str = "approval connector";

/// A stored connector: its validated settings (header names only) and bookkeeping.
#[derive(Clone, Debug)]
pub struct Connector {
    pub id: String,
    pub spec: ConnectorSpec,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Connector {
    fn from_document(document: Document) -> Result<Self> {
        Ok(Connector {
            spec: from_json("stored approval connector", document.body)?,
            id: document.key,
            created_at: document.created_at,
            updated_at: document.updated_at,
        })
    }
}

/// One entry of the activity log as read back.
#[derive(Clone, Debug)]
pub struct ActivityEntry {
    pub id: String,
    pub at: Timestamp,
    pub activity: Activity,
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

impl Engine {
    pub async fn list_connectors(&self, workspace: &str) -> Result<Vec<Connector>> {
        let documents = self
            .store
            .list_documents(workspace, Kind::ApprovalConnector)
            .await?;
        documents
            .into_iter()
            .map(Connector::from_document)
            .collect()
    }

    pub async fn get_connector(&self, workspace: &str, id: &str) -> Result<Connector> {
        let document = self
            .store
            .get_document(workspace, Kind::ApprovalConnector, id)
            .await?
            .ok_or_else(|| not_found(WHAT, id))?;
        Connector::from_document(document)
    }

    /// The connector's header values, in the order of its header names.
    pub(crate) async fn connector_headers(
        &self,
        workspace: &str,
        connector: &Connector,
    ) -> Result<Vec<(String, Secret)>> {
        let stored = self
            .store
            .secrets(workspace, Kind::ApprovalConnector, &connector.id)
            .await?;
        Ok(connector
            .spec
            .header_names
            .iter()
            .filter_map(|name| {
                let value = stored.iter().find(|(field, _)| field == name)?;
                Some(value.clone())
            })
            .collect())
    }

    /// Names are unique per workspace: the SDK and CLI `apply` find a connector by name.
    async fn ensure_unique_name(&self, workspace: &str, name: &str, except: &str) -> Result<()> {
        let taken = self
            .list_connectors(workspace)
            .await?
            .into_iter()
            .any(|other| other.spec.name == name && other.id != except);
        if taken {
            return Err(Error::Conflict(format!(
                "an approval connector named {name:?} already exists in this workspace"
            )));
        }
        Ok(())
    }

    /// Approver groups a connector gives are authority: a member may give only groups it
    /// holds itself (those already given stay); an admin any.
    fn check_granted(
        caller: &Caller,
        before: Option<&ConnectorSpec>,
        after: &ConnectorSpec,
    ) -> Result<()> {
        let kept = before
            .map(ConnectorSpec::granted_groups)
            .unwrap_or_default();
        let added: Vec<String> = after
            .granted_groups()
            .into_iter()
            .filter(|group| !kept.contains(group))
            .collect();
        may_grant(&added, &caller.groups, caller.role == Role::Admin)
            .map_err(|refusal| Error::Forbidden(refusal.0))
    }

    pub async fn create_connector(&self, caller: &Caller, mut fields: Fields) -> Result<Connector> {
        let workspace = caller.workspace.as_str();
        let sent = fields.headers.take().unwrap_or_default();
        check_headers(&sent)?;
        let headers = resolve_headers(sent, &[])?;
        let defaults = self.connector_defaults(workspace).await?;
        let spec = ConnectorSpec::new(&fields, &headers, defaults.default_timeout_seconds)?;
        Self::check_granted(caller, None, &spec)?;
        self.ensure_unique_name(workspace, &spec.name, "").await?;
        let now = Timestamp::now();
        let document = Document {
            key: new_id("ac"),
            body: json!(spec),
            version: 0,
            created_at: now,
            updated_at: now,
        };
        let stored = self
            .store
            .put_document(
                workspace,
                Kind::ApprovalConnector,
                &document,
                &headers,
                Write::Create,
            )
            .await?;
        let connector = Connector::from_document(stored)?;
        self.record(
            workspace,
            Activity {
                event: "connector_created".into(),
                message: format!("Created {} connector", connector.spec.kind.as_str()),
                ..owned_by(&connector)
            },
        )
        .await;
        Ok(connector)
    }

    /// Applies a partial update. A `headers` object replaces the header set; `MASK` values in it
    /// keep the stored value of that header.
    pub async fn update_connector(
        &self,
        caller: &Caller,
        id: &str,
        mut patch: Fields,
    ) -> Result<Connector> {
        let workspace = caller.workspace.as_str();
        let current = self.get_connector(workspace, id).await?;
        let stored = self.connector_headers(workspace, &current).await?;
        let headers = match patch.headers.take() {
            Some(sent) => {
                check_headers(&sent)?;
                resolve_headers(sent, &stored)?
            }
            None => stored.clone(),
        };
        let spec = current.spec.patched(&patch, &headers)?;
        Self::check_granted(caller, Some(&current.spec), &spec)?;
        if spec.name != current.spec.name {
            self.ensure_unique_name(workspace, &spec.name, id).await?;
        }
        let mut changed = changed_fields(&current.spec, &spec);
        if headers_changed(&stored, &headers) {
            changed.push("headers");
        }
        let mut secrets = headers.clone();
        let all_fields = self
            .store
            .secret_fields(workspace, Kind::ApprovalConnector, id)
            .await?;
        secrets.extend(
            all_fields
                .into_iter()
                .filter(|field| !spec.header_names.contains(field))
                .map(|field| (field, Secret::new(""))),
        );
        let document = Document {
            key: id.to_owned(),
            body: json!(spec),
            version: 0,
            created_at: current.created_at,
            updated_at: Timestamp::now(),
        };
        let stored = match self
            .store
            .put_document(
                workspace,
                Kind::ApprovalConnector,
                &document,
                &secrets,
                Write::Replace,
            )
            .await
        {
            Ok(stored) => stored,
            Err(runagents_store::Error::NotFound) => return Err(not_found(WHAT, id)),
            Err(error) => return Err(error.into()),
        };
        let connector = Connector::from_document(stored)?;
        let message = if changed.is_empty() {
            "Updated with no changes".to_owned()
        } else {
            format!("Updated {}", changed.join(", "))
        };
        self.record(
            workspace,
            Activity {
                event: "connector_updated".into(),
                message,
                ..owned_by(&connector)
            },
        )
        .await;
        Ok(connector)
    }

    pub async fn delete_connector(&self, workspace: &str, id: &str) -> Result<()> {
        let connector = self.get_connector(workspace, id).await?;
        if !self
            .store
            .delete_document(workspace, Kind::ApprovalConnector, id)
            .await?
        {
            return Err(not_found(WHAT, id));
        }
        self.record(
            workspace,
            Activity {
                event: "connector_deleted".into(),
                message: format!("Deleted {} connector", connector.spec.kind.as_str()),
                ..owned_by(&connector)
            },
        )
        .await;
        Ok(())
    }

    pub async fn connector_defaults(&self, workspace: &str) -> Result<Defaults> {
        match self.store.get_setting(workspace, DEFAULTS_SETTING).await? {
            None => Ok(Defaults::default()),
            Some(value) => serde_json::from_value(value).map_err(|error| {
                Error::Store(runagents_store::Error::Backend(format!(
                    "stored approval connector defaults: {error}"
                )))
            }),
        }
    }

    /// Applies a partial update of the defaults and returns all of them.
    pub async fn update_connector_defaults(
        &self,
        workspace: &str,
        body: Value,
    ) -> Result<Defaults> {
        let defaults = self.connector_defaults(workspace).await?.updated(body)?;
        self.store
            .put_setting(
                workspace,
                DEFAULTS_SETTING,
                &json!(defaults),
                Timestamp::now(),
            )
            .await?;
        Ok(defaults)
    }

    /// The newest `limit` entries, newest first.
    pub async fn connector_activity(
        &self,
        workspace: &str,
        limit: u32,
    ) -> Result<Vec<ActivityEntry>> {
        let records = self.store.list_activity(workspace, limit).await?;
        Ok(records
            .into_iter()
            .map(|record| ActivityEntry {
                id: record.id,
                at: record.at,
                // Entries are written only by this module; an unreadable one still shows its event.
                activity: serde_json::from_value(record.body).unwrap_or_default(),
            })
            .collect())
    }

    /// Failing to log must not fail a change that is already committed; it is logged instead.
    pub(crate) async fn record(&self, workspace: &str, activity: Activity) {
        let record = ActivityRecord {
            id: new_id("aca"),
            at: Timestamp::now(),
            body: json!(activity),
        };
        if let Err(error) = self.store.append_activity(workspace, &record).await {
            tracing::warn!(%error, event = %activity.event, "could not record approval connector activity");
        }
    }

    /// Tests a configuration as sent (`POST /approval-connectors/test`). Masked header values
    /// come from the stored connector with the same type and endpoint: that is what the SDK's and
    /// CLI's `test <id>` send after reading the connector.
    pub async fn test_connector_config(
        &self,
        workspace: &str,
        mut fields: Fields,
    ) -> Result<TestReport> {
        let Some(endpoint) = fields.endpoint.clone() else {
            return Err(Error::Invalid("endpoint is required".into()));
        };
        let sent = fields.headers.take().unwrap_or_default();
        let defaults = self.connector_defaults(workspace).await?;
        let target = Target::check(
            fields.kind.as_deref(),
            Some(&endpoint),
            fields.timeout_seconds,
            defaults.default_timeout_seconds,
            fields.slack_security_mode.as_deref(),
        )
        .and_then(|target| check_headers(&sent).map(|()| target));
        let target = match target {
            Ok(target) => target,
            Err(invalid) => {
                let kind = fields.kind.unwrap_or_else(|| "webhook".into());
                let report = TestReport::new(
                    kind.to_ascii_lowercase(),
                    endpoint,
                    vec![
                        Check::config(Err(&invalid)),
                        Check::skipped(
                            "credentials",
                            "Credentials",
                            "Not checked: the configuration is invalid",
                        ),
                        skipped_connectivity(),
                    ],
                );
                self.record_test(workspace, &report, None).await;
                return Ok(report);
            }
        };
        let twins: Vec<Connector> = self
            .list_connectors(workspace)
            .await?
            .into_iter()
            .filter(|c| c.spec.kind == target.kind && c.spec.endpoint == target.endpoint)
            .collect();
        let headers = self.resolve_from_twins(workspace, sent, &twins).await?;
        let owner = match twins.as_slice() {
            [only] => Some(only),
            _ => None,
        };
        Ok(self.run_test(workspace, target, headers, owner).await)
    }

    /// Tests a stored connector with its stored credentials.
    pub async fn test_stored_connector(&self, workspace: &str, id: &str) -> Result<TestReport> {
        let connector = self.get_connector(workspace, id).await?;
        let headers = self.connector_headers(workspace, &connector).await?;
        Ok(self
            .run_test(
                workspace,
                connector.spec.target(),
                Ok(headers),
                Some(&connector),
            )
            .await)
    }

    /// Resolves masked values against connectors with the same type and endpoint. Several such
    /// connectors are fine as long as they agree on the value; otherwise the caller must send it.
    async fn resolve_from_twins(
        &self,
        workspace: &str,
        sent: Vec<(String, HeaderValue)>,
        twins: &[Connector],
    ) -> Result<Result<Vec<(String, Secret)>, Invalid>> {
        if !sent.iter().any(|(_, v)| matches!(v, HeaderValue::Keep)) {
            return Ok(resolve_headers(sent, &[]));
        }
        let mut stored: Vec<(String, Secret)> = Vec::new();
        for twin in twins {
            for (name, value) in self.connector_headers(workspace, twin).await? {
                match header(&stored, &name) {
                    Some(known) if known != &value => {
                        return Ok(Err(Invalid(format!(
                            "header {name:?} is masked and connectors with this type and endpoint store different values; send the real value or test by id"
                        ))));
                    }
                    Some(_) => {}
                    None => stored.push((name, value)),
                }
            }
        }
        Ok(resolve_headers(sent, &stored))
    }

    async fn run_test(
        &self,
        workspace: &str,
        target: Target,
        headers: Result<Vec<(String, Secret)>, Invalid>,
        owner: Option<&Connector>,
    ) -> TestReport {
        let credentials = headers.and_then(|h| target.check_credentials(&h).map(|()| h));
        let mut credentials_check = Check::credentials(credentials.as_ref().map(|_| ()));
        if let Ok(headers) = &credentials
            && target.slack_security_mode == Some(SlackSecurityMode::Compat)
            && header(headers, SLACK_SIGNING_SECRET).is_none_or(|s| s.expose().is_empty())
        {
            credentials_check.message.push_str(
                "; compat mode: requests are not signature-verified (add X-Slack-Signing-Secret)",
            );
        }
        if let Ok(headers) = &credentials
            && target.kind == ConnectorType::Jira
            && header(headers, JIRA_WEBHOOK_SECRET).is_none_or(|s| s.expose().is_empty())
        {
            credentials_check.message.push_str(&format!(
                "; without {JIRA_WEBHOOK_SECRET}, Jira transitions are not heard (decision links still work)"
            ));
        }
        let mut checks = vec![Check::config(Ok(())), credentials_check];
        checks.push(match &credentials {
            Ok(headers) => self.connectivity(&target, headers).await,
            Err(_) => skipped_connectivity(),
        });
        let report = TestReport::new(
            target.kind.as_str().to_owned(),
            target.endpoint.clone(),
            checks,
        );
        self.record_test(workspace, &report, owner).await;
        report
    }

    async fn record_test(&self, workspace: &str, report: &TestReport, owner: Option<&Connector>) {
        let event = if report.healthy() {
            "test_succeeded"
        } else {
            "test_failed"
        };
        let base = owner.map(owned_by).unwrap_or_default();
        self.record(
            workspace,
            Activity {
                event: event.into(),
                duration_ms: report.checks.iter().find_map(|c| c.duration_ms),
                message: report.summary(),
                ..base
            },
        )
        .await;
    }
}

/// The activity fields that name a connector.
fn owned_by(connector: &Connector) -> Activity {
    Activity {
        connector_id: connector.id.clone(),
        connector_name: connector.spec.name.clone(),
        ..Activity::default()
    }
}

fn skipped_connectivity() -> Check {
    Check::skipped(
        "connectivity",
        "Connectivity",
        "Not attempted: fix the failed checks first",
    )
}

fn changed_fields(before: &ConnectorSpec, after: &ConnectorSpec) -> Vec<&'static str> {
    [
        ("name", before.name != after.name),
        ("type", before.kind != after.kind),
        ("endpoint", before.endpoint != after.endpoint),
        ("enabled", before.enabled != after.enabled),
        (
            "timeout_seconds",
            before.timeout_seconds != after.timeout_seconds,
        ),
        (
            "slack_security_mode",
            before.slack_security_mode != after.slack_security_mode,
        ),
        ("approver_map", before.approver_map != after.approver_map),
        ("link_approver", before.link_approver != after.link_approver),
        (
            "approve_transitions",
            before.approve_transitions != after.approve_transitions,
        ),
        (
            "reject_transitions",
            before.reject_transitions != after.reject_transitions,
        ),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect()
}

/// Whether the header set differs, in names or values; order does not count.
fn headers_changed(before: &[(String, Secret)], after: &[(String, Secret)]) -> bool {
    before.len() != after.len() || after.iter().any(|pair| !before.contains(pair))
}
