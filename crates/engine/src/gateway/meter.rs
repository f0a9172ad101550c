//! Metering one gateway call: reserve its estimated cost against the agent's monthly budget
//! for the model before the provider is called, then record the usage and settle the
//! reservation with the actual cost (or release it when the call failed).
//!
//! The usage record and settlement are written on the engine's background tracker, after the
//! answer has gone out: the client does not wait for them, and shutdown does. Budgets stay
//! safe meanwhile because the reservation holds the estimate until it is settled; reports
//! (`/model-spend`) lag by that one write.
//!
//! Invariant: every reservation is settled or released, by `settle`/`release` or, when the
//! call is abandoned (a client hanging up mid-stream), by `Drop` with the usage estimated so
//! far. Concurrent calls cannot overshoot a budget by more than one call's excess over its
//! estimate: the store checks and reserves in one statement.

use std::sync::Arc;

use futures_util::StreamExt;
use runagents_domain::Timestamp;
use runagents_domain::agent::spend::Period;
use runagents_domain::model_provider::{ModelProviderSpec, NANOS_PER_USD, Price};
use runagents_llm::{ChatRequest, ChunkStream, Usage};
use runagents_store::{LlmUsageRecord, SpendKey, Store};

use super::{Attribution, ChatStream};
use crate::{Engine, Error, Result};

/// The completion length assumed for an estimate when the request sets no `max_tokens`.
pub const ESTIMATE_MAX_TOKENS: u32 = 1024;

/// Characters per token assumed for estimates.
const CHARS_PER_TOKEN: u64 = 4;

pub(super) struct Meter {
    /// What is left to write; `None` once written.
    pending: Option<Pending>,
    background: tokio_util::task::TaskTracker,
    prompt_estimate: u64,
    /// Characters generated so far in a stream, for an estimate when the provider reports none.
    generated_chars: u64,
}

struct Pending {
    store: Arc<dyn Store>,
    /// The usage record, without tokens and cost yet.
    record: LlmUsageRecord,
    price: Price,
    /// The agent's counter for this model mapping, when the call is for an agent that has one.
    counter: Option<SpendKey>,
    reserved_nanos: i64,
}

impl Meter {
    /// Starts metering `request` (already addressed to the provider's model name). For an
    /// agent whose mapping of this model has a budget, reserves the estimate first; a budget
    /// without room is `Error::BudgetExceeded`.
    pub(super) async fn start(
        engine: &Engine,
        who: &Attribution,
        provider: &str,
        spec: &ModelProviderSpec,
        request: &ChatRequest,
    ) -> Result<Meter> {
        let now = Timestamp::now();
        let price = spec
            .pricing
            .get(&request.model)
            .copied()
            .unwrap_or_default();
        let prompt_estimate = u64::try_from(request.prompt_chars())
            .unwrap_or(u64::MAX)
            .div_ceil(CHARS_PER_TOKEN);
        let mut counter = None;
        let mut reserved_nanos = 0;
        if let Some(agent_name) = &who.agent {
            let spec = engine.agent_spec(&who.workspace, agent_name).await?;
            if let Some(config) = spec.llm_config_for(&request.model, provider) {
                let period = Period::month_of(now);
                let key = SpendKey {
                    workspace: who.workspace.clone(),
                    agent: agent_name.clone(),
                    label: config.label(),
                    period_start: period.start,
                };
                if let Some(budget) = config.monthly_budget_usd {
                    let max_tokens = request.max_output_tokens().unwrap_or(ESTIMATE_MAX_TOKENS);
                    let estimate = price.cost_nanos(prompt_estimate, u64::from(max_tokens));
                    if !engine
                        .store
                        .reserve_spend(&key, estimate, usd_to_nanos(budget))
                        .await?
                    {
                        return Err(Error::BudgetExceeded {
                            message: format!(
                                "monthly budget of ${budget} for {} reached for agent {}; raise it with PUT /agents/{}/config",
                                request.model, agent_name, agent_name
                            ),
                            retry_after_secs: period.seconds_left(now),
                        });
                    }
                    reserved_nanos = estimate;
                }
                counter = Some(key);
            }
        }
        let record = LlmUsageRecord {
            id: format!("llm_{}", uuid::Uuid::now_v7().simple()),
            workspace: who.workspace.clone(),
            agent: who.agent.clone().unwrap_or_default(),
            run_id: who.run_id.clone().unwrap_or_default(),
            model: request.model.clone(),
            provider: provider.to_owned(),
            at: now,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_nanos: 0,
        };
        Ok(Meter {
            background: engine.background.clone(),
            pending: Some(Pending {
                store: engine.store.clone(),
                record,
                price,
                counter,
                reserved_nanos,
            }),
            prompt_estimate,
            generated_chars: 0,
        })
    }

    /// Records the call's usage (the provider's, else an estimate) and settles the
    /// reservation, in the background.
    pub(super) fn settle(mut self, usage: Option<Usage>) {
        let usage = usage.unwrap_or_else(|| self.estimated_usage());
        if let Some(pending) = self.pending.take() {
            self.background.spawn(pending.write(usage));
        }
    }

    /// The call failed before anything was generated: nothing is recorded, the reservation
    /// is given back.
    pub(super) async fn release(mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        if let Some(key) = pending
            .counter
            .as_ref()
            .filter(|_| pending.reserved_nanos > 0)
            && let Err(error) = pending
                .store
                .release_spend(key, pending.reserved_nanos)
                .await
        {
            tracing::error!(%error, agent = %key.agent, "could not release an LLM budget reservation");
        }
    }

    fn estimated_usage(&self) -> Usage {
        Usage::new(
            self.prompt_estimate,
            self.generated_chars.div_ceil(CHARS_PER_TOKEN),
        )
    }

    /// Relays a provider stream, recording usage when it ends (before the client's last
    /// event). The usage-only chunk is passed on only when the client asked for it with
    /// `stream_options.include_usage`.
    pub(super) fn stream(self, upstream: ChunkStream, include_usage: bool) -> ChatStream {
        struct Relay {
            upstream: ChunkStream,
            meter: Option<Meter>,
            include_usage: bool,
            usage: Option<Usage>,
            finished: bool,
        }
        let relay = Relay {
            upstream,
            meter: Some(self),
            include_usage,
            usage: None,
            finished: false,
        };
        Box::pin(futures_util::stream::unfold(
            relay,
            |mut relay| async move {
                loop {
                    if relay.finished {
                        return None;
                    }
                    match relay.upstream.next().await {
                        Some(Ok(mut chunk)) => {
                            if let Some(meter) = relay.meter.as_mut() {
                                meter.generated_chars = meter.generated_chars.saturating_add(
                                    u64::try_from(chunk.generated_chars()).unwrap_or(0),
                                );
                            }
                            if chunk.usage.is_some() {
                                relay.usage = chunk.usage;
                            }
                            if !relay.include_usage {
                                chunk.usage = None;
                                if chunk.choices.is_empty() {
                                    continue;
                                }
                            }
                            return Some((Ok(chunk), relay));
                        }
                        Some(Err(error)) => {
                            relay.finished = true;
                            if let Some(meter) = relay.meter.take() {
                                meter.settle(relay.usage);
                            }
                            let message = format!("provider request failed: {error}");
                            return Some((Err(message), relay));
                        }
                        None => {
                            relay.finished = true;
                            if let Some(meter) = relay.meter.take() {
                                meter.settle(relay.usage);
                            }
                            return None;
                        }
                    }
                }
            },
        ))
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        // Abandoned mid-call: settle with what was seen.
        let usage = self.estimated_usage();
        if tokio::runtime::Handle::try_current().is_ok() {
            self.background.spawn(pending.write(usage));
        }
    }
}

impl Pending {
    async fn write(self, usage: Usage) {
        let mut record = self.record;
        record.prompt_tokens = i64::try_from(usage.prompt_tokens).unwrap_or(i64::MAX);
        record.completion_tokens = i64::try_from(usage.completion_tokens).unwrap_or(i64::MAX);
        record.cost_nanos = self
            .price
            .cost_nanos(usage.prompt_tokens, usage.completion_tokens);
        let settle = self.counter.as_ref().map(|key| (key, self.reserved_nanos));
        // The provider has answered: a failed write must not take the answer from the client.
        if let Err(error) = self.store.record_llm_usage(&record, settle).await {
            tracing::error!(%error, agent = %record.agent, model = %record.model, "could not record LLM usage");
        }
    }
}

/// A budget in nano-dollars, rounded down.
fn usd_to_nanos(usd: f64) -> i64 {
    let nanos = (usd * NANOS_PER_USD).floor();
    if nanos.is_finite() && nanos > 0.0 {
        nanos as i64
    } else {
        0
    }
}
