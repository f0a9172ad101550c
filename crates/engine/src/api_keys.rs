//! API keys and workspaces: authenticate a request, and the key lifecycle.
//!
//! Invariant: a token exists in clear only in the response that creates or rotates it; the
//! store sees its hash. A key reaches only its own workspace.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use runagents_domain::api_key::{self, NewKey};
use runagents_domain::approver::{Approver, Channel, may_grant};
use runagents_domain::{ResourceName, Timestamp};
use runagents_store::{ApiKeyRecord, Rotation};

use crate::{Engine, Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// May also create workspaces and admin keys.
    Admin,
    Member,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// Who is calling, and which workspace the request acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub workspace: String,
    pub role: Role,
    /// The key's id; empty in `--dev` mode.
    pub key_id: String,
    /// The key's name; "dev" in `--dev` mode.
    pub key_name: String,
    /// Who the caller is, recorded as who approved or rejected: the key's owner (its name
    /// unless set otherwise), "dev" in `--dev` mode, the person a connector names, or the
    /// person a console single sign-on session proved.
    pub subject: String,
    /// The approver groups the caller holds.
    pub groups: Vec<String>,
    /// How the request came: `Api` for a key, `Console` for a session, or a connector's.
    pub channel: Channel,
}

impl Caller {
    /// The caller as an approver.
    pub fn approver(&self) -> Approver {
        Approver {
            subject: self.subject.clone(),
            groups: self.groups.clone(),
        }
    }
}

/// A key with its token, returned once by create and rotate.
#[derive(Debug)]
pub struct IssuedKey {
    pub key: ApiKeyRecord,
    pub token: String,
}

/// Recently verified keys, so a hot read path costs no database round trip. Revoke and
/// rotate evict locally; other replicas see the change within `TTL`.
#[derive(Default)]
pub(crate) struct KeyCache {
    /// By token hash, for API-key requests.
    entries: Mutex<HashMap<String, Cached>>,
    /// By key id, for console sessions (which hold the id, never the token).
    pub(crate) by_id: Mutex<HashMap<String, Cached>>,
}

pub(crate) struct Cached {
    pub(crate) key: ApiKeyRecord,
    pub(crate) checked: Instant,
    pub(crate) touched: Instant,
}

pub(crate) const TTL: Duration = Duration::from_secs(5);
/// `last_used_at` is written at most this often per key.
pub(crate) const TOUCH_EVERY: Duration = Duration::from_secs(60);
const BOOTSTRAP_WORKSPACE: &str = "default";
const UNAUTHENTICATED: &str = "Missing or invalid API key";

fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Upstream("no system randomness".into()))?;
    Ok(api_key::token_from_bytes(&bytes))
}

fn key_id() -> String {
    format!("key_{}", uuid::Uuid::now_v7().simple())
}

fn expiry(now: Timestamp, days: Option<i64>) -> Option<Timestamp> {
    days.map(|days| now.plus_seconds(days * 86_400))
}

impl Engine {
    /// Resolves the caller of a request. `requested` is the workspace named in the URL, if any.
    /// A key for another workspace gets `NotFound`, so workspaces cannot be discovered.
    pub async fn authenticate(
        &self,
        token: Option<&str>,
        requested: Option<&str>,
    ) -> Result<Caller> {
        if self.settings.dev {
            return self.dev_caller(requested);
        }
        let token = token
            .map(str::trim)
            .filter(|t| api_key::looks_like_token(t))
            .ok_or_else(|| Error::Unauthenticated(UNAUTHENTICATED.into()))?;
        let key = self.verified_key(token).await?;
        caller_of(key, requested)
    }

    /// The dev-mode caller: an admin of the named workspace (or `default`).
    pub(crate) fn dev_caller(&self, requested: Option<&str>) -> Result<Caller> {
        let workspace = requested.unwrap_or(BOOTSTRAP_WORKSPACE);
        ResourceName::parse(workspace)
            .map_err(|_| Error::NotFound(format!("workspace {workspace:?} not found")))?;
        Ok(Caller {
            workspace: workspace.to_owned(),
            role: Role::Admin,
            key_id: String::new(),
            key_name: "dev".to_owned(),
            subject: "dev".to_owned(),
            groups: Vec::new(),
            channel: Channel::Api,
        })
    }

    /// The live key of a token: known, not revoked, not expired.
    pub(crate) async fn verified_key(&self, token: &str) -> Result<ApiKeyRecord> {
        let hash = api_key::hash(token);
        let now = Instant::now();
        let mut touch = false;
        let cached = {
            let mut entries = self
                .keys
                .entries
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            match entries.get_mut(&hash) {
                Some(entry) if now.duration_since(entry.checked) < TTL => {
                    if now.duration_since(entry.touched) >= TOUCH_EVERY {
                        entry.touched = now;
                        touch = true;
                    }
                    Some(entry.key.clone())
                }
                _ => None,
            }
        };
        let key = match cached {
            Some(key) => key,
            None => {
                let key = self
                    .store
                    .api_key_by_hash(&hash)
                    .await?
                    .ok_or_else(|| Error::Unauthenticated(UNAUTHENTICATED.into()))?;
                let mut entries = self
                    .keys
                    .entries
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                let touched = entries.get(&hash).map(|entry| entry.touched);
                touch = touched.is_none_or(|at| now.duration_since(at) >= TOUCH_EVERY);
                entries.insert(
                    hash.clone(),
                    Cached {
                        key: key.clone(),
                        checked: now,
                        touched: if touch { now } else { touched.unwrap_or(now) },
                    },
                );
                key
            }
        };
        check_live(&key)?;
        if touch {
            self.store.touch_api_key(&key.id, Timestamp::now()).await?;
        }
        Ok(key)
    }

    fn forget_key(&self, id: &str) {
        let mut entries = self
            .keys
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        entries.retain(|_, entry| entry.key.id != id);
        self.keys
            .by_id
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .remove(id);
    }

    /// On first start (no `default` workspace yet), creates it with an admin key and returns the
    /// token. Safe for replicas starting together: exactly one of them creates it.
    pub async fn bootstrap(&self) -> Result<Option<String>> {
        if self
            .store
            .list_workspaces()
            .await?
            .iter()
            .any(|ws| ws == BOOTSTRAP_WORKSPACE)
        {
            return Ok(None);
        }
        let token = random_token()?;
        let key = self.new_record(
            BOOTSTRAP_WORKSPACE,
            &NewKey {
                name: "bootstrap-admin".into(),
                expires_in_days: None,
                admin: true,
                subject: "bootstrap-admin".into(),
                groups: Vec::new(),
            },
            &token,
        );
        match self
            .store
            .create_workspace_with_key(BOOTSTRAP_WORKSPACE, &key)
            .await
        {
            Ok(()) => Ok(Some(token)),
            Err(runagents_store::Error::Conflict(_)) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    fn new_record(&self, workspace: &str, new: &NewKey, token: &str) -> ApiKeyRecord {
        let now = Timestamp::now();
        let role = if new.admin { Role::Admin } else { Role::Member };
        ApiKeyRecord {
            id: key_id(),
            workspace: workspace.to_owned(),
            name: new.name.clone(),
            role: role.as_str().to_owned(),
            hash: api_key::hash(token),
            last4: api_key::last4(token),
            created_at: now,
            expires_at: expiry(now, new.expires_in_days),
            last_used_at: None,
            revoked_at: None,
            subject: new.subject.clone(),
            groups: new.groups.clone(),
        }
    }

    pub async fn list_api_keys(&self, caller: &Caller) -> Result<Vec<ApiKeyRecord>> {
        Ok(self.store.list_api_keys(&caller.workspace).await?)
    }

    /// A new key. Approver groups are authority: a member may give a key only groups it holds
    /// itself; an admin any.
    pub async fn create_api_key(&self, caller: &Caller, new: NewKey) -> Result<IssuedKey> {
        if new.admin && caller.role != Role::Admin {
            return Err(Error::Forbidden(
                "only an admin key can create admin keys".into(),
            ));
        }
        may_grant(&new.groups, &caller.groups, caller.role == Role::Admin)
            .map_err(|refusal| Error::Forbidden(refusal.0))?;
        let token = random_token()?;
        let key = self.new_record(&caller.workspace, &new, &token);
        self.store
            .ensure_workspace(&caller.workspace, key.created_at)
            .await?;
        self.store.insert_api_key(&key).await?;
        Ok(IssuedKey { key, token })
    }

    pub async fn revoke_api_key(&self, caller: &Caller, id: &str) -> Result<()> {
        if !self
            .store
            .revoke_api_key(&caller.workspace, id, Timestamp::now())
            .await?
        {
            return Err(crate::not_found("API key", id));
        }
        self.forget_key(id);
        Ok(())
    }

    /// Issues a new token for the key; the old one stops working at once. The expiry window
    /// is kept unless `expires_in_days` gives a new one.
    pub async fn rotate_api_key(
        &self,
        caller: &Caller,
        id: &str,
        expires_in_days: Option<i64>,
    ) -> Result<IssuedKey> {
        let current = self
            .store
            .list_api_keys(&caller.workspace)
            .await?
            .into_iter()
            .find(|key| key.id == id);
        let current = current.ok_or_else(|| crate::not_found("API key", id))?;
        let now = Timestamp::now();
        let expires_at = match (expires_in_days, current.expires_at) {
            (Some(days), _) => expiry(now, Some(days)),
            // A live key keeps its expiry; an expired one gets a window of the same length from now.
            (None, Some(at)) if at <= now => {
                Some(now.plus_seconds((at.millis() - current.created_at.millis()).max(0) / 1000))
            }
            (None, kept) => kept,
        };
        let token = random_token()?;
        let rotation = Rotation {
            hash: api_key::hash(&token),
            last4: api_key::last4(&token),
            expires_at,
        };
        let key = self
            .store
            .rotate_api_key(&caller.workspace, id, &rotation)
            .await?
            .ok_or_else(|| crate::not_found("API key", id))?;
        self.forget_key(id);
        Ok(IssuedKey { key, token })
    }

    pub async fn list_workspaces(&self, caller: &Caller) -> Result<Vec<String>> {
        require_admin(caller)?;
        Ok(self.store.list_workspaces().await?)
    }

    /// Creates a workspace with its first (admin) key. Only admins may.
    pub async fn create_workspace(&self, caller: &Caller, name: &str) -> Result<IssuedKey> {
        require_admin(caller)?;
        let name = ResourceName::parse(name)?;
        let token = random_token()?;
        let admin = format!("{name}-admin");
        let key = self.new_record(
            name.as_str(),
            &NewKey {
                name: admin.clone(),
                expires_in_days: None,
                admin: true,
                subject: admin,
                groups: Vec::new(),
            },
            &token,
        );
        self.store
            .create_workspace_with_key(name.as_str(), &key)
            .await?;
        Ok(IssuedKey { key, token })
    }
}

/// Refuses a revoked or expired key.
pub(crate) fn check_live(key: &ApiKeyRecord) -> Result<()> {
    if key.revoked_at.is_some() {
        return Err(Error::Unauthenticated("API key has been revoked".into()));
    }
    if key.expires_at.is_some_and(|at| at <= Timestamp::now()) {
        return Err(Error::Unauthenticated(
            "API key has expired; rotate it or create a new one".into(),
        ));
    }
    Ok(())
}

/// The caller a key makes; a key for another workspace than `requested` gets `NotFound`.
pub(crate) fn caller_of(key: ApiKeyRecord, requested: Option<&str>) -> Result<Caller> {
    if let Some(workspace) = requested
        && workspace != key.workspace
    {
        return Err(Error::NotFound(format!(
            "workspace {workspace:?} not found"
        )));
    }
    let role = if key.role == "admin" {
        Role::Admin
    } else {
        Role::Member
    };
    let subject = if key.subject.is_empty() {
        key.name.clone()
    } else {
        key.subject
    };
    Ok(Caller {
        workspace: key.workspace,
        role,
        key_id: key.id,
        key_name: key.name,
        subject,
        groups: key.groups,
        channel: Channel::Api,
    })
}

fn require_admin(caller: &Caller) -> Result<()> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(Error::Forbidden("this needs an admin API key".into()))
    }
}
