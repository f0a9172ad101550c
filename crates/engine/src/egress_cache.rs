//! What egress reads on every call, kept between calls: the agent behind a credential, each
//! agent's bound policies (parsed and indexed), each tool's spec with its secrets, and runs'
//! fixed fields.
//!
//! Invariants:
//! - Every call reads the workspace's generation counters first, in one statement
//!   (`Store::egress_generations`); an entry is used only if it was filled at the generations
//!   the call read. Every document write and every credential change bumps its counter in its
//!   own transaction, so a write committed on any replica before a call started is seen by
//!   that call: a policy change is enforced on the very next call, and a deleted agent's (or
//!   a replaced) credential stops working on the next call, on every replica.
//! - A credential the store does not know is remembered as unknown for `UNKNOWN_TTL` only
//!   (so a stream of bad credentials does not reach the database), in a bounded map.
//! - Entries are filled by reading the counters before the data, so a write racing a fill
//!   leaves an entry that the next call finds stale. A read that fails is never cached:
//!   egress then fails closed.
//! - Only runs whose turn the platform never invokes again (`turn == 0`) are kept, and of
//!   them only fields that never change (agent, user); a hosted run is read on every call.
//! - Each map is bounded (`MAX_ENTRIES`); when full it is emptied and refilled on demand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runagents_domain::decision::PolicyIndex;
use runagents_domain::policy::PolicySpec;
use runagents_domain::tool::{AuthType, ToolSpec};
use runagents_domain::{Secret, api_key, from_json};
use runagents_store::{Generations, Kind, RunRecord};

use crate::egress::AgentIdentity;
use crate::{Engine, Error, Result};

/// How long an unknown credential is answered from memory.
const UNKNOWN_TTL: Duration = Duration::from_secs(1);
/// Entries per map before it is emptied.
const MAX_ENTRIES: usize = 10_000;

/// An agent as egress needs it: the tools it may call and its bound policies, indexed.
pub(crate) struct AgentView {
    generations: (i64, i64),
    pub tools: Vec<String>,
    pub policies: Vec<(String, PolicySpec)>,
    pub index: PolicyIndex,
}

/// A tool as egress needs it: its spec and its stored secrets.
pub(crate) struct ToolView {
    generation: i64,
    pub spec: ToolSpec,
    pub secrets: Vec<(String, Secret)>,
}

enum Credential {
    Known {
        identity: AgentIdentity,
        generation: i64,
    },
    Unknown {
        at: Instant,
    },
}

/// Per workspace, then per name: lookups by `&str` without building a key.
type Nested<V> = HashMap<String, HashMap<String, Arc<V>>>;

#[derive(Default)]
pub(crate) struct EgressCache {
    /// By credential hash.
    credentials: Mutex<HashMap<String, Credential>>,
    agents: Mutex<Nested<AgentView>>,
    tools: Mutex<Nested<ToolView>>,
    /// By run id; the workspace is checked on use.
    runs: Mutex<HashMap<String, Arc<RunRecord>>>,
}

fn nested_get<V>(map: &Mutex<Nested<V>>, workspace: &str, name: &str) -> Option<Arc<V>> {
    map.lock().ok()?.get(workspace)?.get(name).cloned()
}

fn nested_put<V>(map: &Mutex<Nested<V>>, workspace: &str, name: &str, value: Arc<V>) {
    if let Ok(mut map) = map.lock() {
        if map.values().map(HashMap::len).sum::<usize>() >= MAX_ENTRIES {
            map.clear();
        }
        map.entry(workspace.to_owned())
            .or_default()
            .insert(name.to_owned(), value);
    }
}

impl Engine {
    /// The agent behind a credential and the workspace's generations, read once for the
    /// call; `None` for a credential the store does not know.
    pub(crate) async fn egress_identity(
        &self,
        credential: &str,
    ) -> Result<Option<(AgentIdentity, Generations)>> {
        let hash = api_key::hash(credential);
        let cached =
            self.egress_cache
                .credentials
                .lock()
                .ok()
                .and_then(|map| match map.get(&hash)? {
                    Credential::Known {
                        identity,
                        generation,
                    } => Some(Some((identity.clone(), *generation))),
                    Credential::Unknown { at } if at.elapsed() < UNKNOWN_TTL => Some(None),
                    Credential::Unknown { .. } => None,
                });
        match cached {
            // Recently found unknown.
            Some(None) => Ok(None),
            Some(Some((identity, generation))) => {
                let generations = self.store.egress_generations(&identity.workspace).await?;
                if generations.credentials == generation {
                    return Ok(Some((identity, generations)));
                }
                self.resolve_credential(&hash, Some(generations)).await
            }
            None => self.resolve_credential(&hash, None).await,
        }
    }

    /// Reads the credential from the store and remembers what it found. With `generations`
    /// (read before this), the entry is filled at them; without, the workspace is learnt
    /// first, then its generations read, then the credential read again.
    async fn resolve_credential(
        &self,
        hash: &str,
        mut generations: Option<Generations>,
    ) -> Result<Option<(AgentIdentity, Generations)>> {
        let mut found = self.store.agent_by_credential(hash).await?;
        if generations.is_none()
            && let Some((workspace, _)) = &found
        {
            generations = Some(self.store.egress_generations(workspace).await?);
            found = self.store.agent_by_credential(hash).await?;
        }
        let entry = match (&found, generations) {
            (Some((workspace, agent)), Some(generations)) => Credential::Known {
                identity: AgentIdentity {
                    workspace: workspace.clone(),
                    agent: agent.clone(),
                },
                generation: generations.credentials,
            },
            _ => Credential::Unknown { at: Instant::now() },
        };
        if let Ok(mut map) = self.egress_cache.credentials.lock() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(hash.to_owned(), entry);
        }
        Ok(match (found, generations) {
            (Some((workspace, agent)), Some(generations)) => {
                Some((AgentIdentity { workspace, agent }, generations))
            }
            _ => None,
        })
    }

    /// The agent's tools and bound policies at `generations`. A bound policy that is missing
    /// is an error (egress fails closed), never a narrower set.
    pub(crate) async fn egress_agent(
        &self,
        workspace: &str,
        agent: &str,
        generations: Generations,
    ) -> Result<Arc<AgentView>> {
        let at = (generations.agents, generations.policies);
        if let Some(view) = nested_get(&self.egress_cache.agents, workspace, agent)
            && view.generations == at
        {
            return Ok(view);
        }
        let agent_record = self.get_agent(workspace, agent).await?;
        let mut policies = Vec::with_capacity(agent_record.spec.policies.len());
        for name in &agent_record.spec.policies {
            let document = self
                .store
                .get_document(workspace, Kind::Policy, name)
                .await?
                .ok_or_else(|| Error::NotFound(format!("bound policy {name:?} is missing")))?;
            let spec: PolicySpec = from_json("stored policy", document.body["spec"].clone())?;
            policies.push((name.clone(), spec));
        }
        let view = Arc::new(AgentView {
            generations: at,
            tools: agent_record
                .spec
                .referenced_tools()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            index: PolicyIndex::new(&policies),
            policies,
        });
        nested_put(&self.egress_cache.agents, workspace, agent, view.clone());
        Ok(view)
    }

    /// The tool's spec and secrets at `generations`; `None` if it is not registered.
    pub(crate) async fn egress_tool(
        &self,
        workspace: &str,
        tool: &str,
        generations: Generations,
    ) -> Result<Option<Arc<ToolView>>> {
        if let Some(view) = nested_get(&self.egress_cache.tools, workspace, tool)
            && view.generation == generations.tools
        {
            return Ok(Some(view));
        }
        let Some(document) = self.store.get_document(workspace, Kind::Tool, tool).await? else {
            return Ok(None);
        };
        let spec: ToolSpec = from_json("stored tool", document.body["spec"].clone())?;
        // Secrets change only with their document, in the transaction that bumps the counter.
        let secrets = match spec.connection.authentication.kind {
            AuthType::None => Vec::new(),
            _ => self.store.secrets(workspace, Kind::Tool, tool).await?,
        };
        let view = Arc::new(ToolView {
            generation: generations.tools,
            spec,
            secrets,
        });
        nested_put(&self.egress_cache.tools, workspace, tool, view.clone());
        Ok(Some(view))
    }

    /// The run, from memory when its turn is never invoked again by the platform.
    pub(crate) async fn egress_run(
        &self,
        workspace: &str,
        run_id: &str,
    ) -> Result<Option<Arc<RunRecord>>> {
        let cached = self
            .egress_cache
            .runs
            .lock()
            .ok()
            .and_then(|map| map.get(run_id).cloned());
        if let Some(run) = cached
            && run.workspace == workspace
        {
            return Ok(Some(run));
        }
        let Some(run) = self.store.get_run(workspace, run_id).await? else {
            return Ok(None);
        };
        let run = Arc::new(run);
        if run.turn == 0
            && let Ok(mut map) = self.egress_cache.runs.lock()
        {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(run.id.clone(), run.clone());
        }
        Ok(Some(run))
    }
}
