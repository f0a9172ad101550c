//! Hosting Tier 2 agents: builds of their Python environments and their supervised runtime
//! processes.

use crate::{Engine, Error, Result};

impl Engine {
    /// The base URL of the agent's running runtime process.
    pub(crate) fn hosted_url(&self, _workspace: &str, agent: &str) -> Result<String> {
        Err(Error::Upstream(format!(
            "failed to reach agent: {agent:?} is not running"
        )))
    }
}
