//! Model spend and monthly budgets: per-agent model usage and the workspace summary.
//!
//! Budgets live on the agent's `llm_configs` (`monthly_budget_usd`, none means uncapped).
//! Spend is what the LLM gateway recorded, by calendar month (UTC) and model mapping label
//! (`LlmConfig::label`); the engine reads it from the store into a `Usage`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime};

use super::{LlmConfig, Role};
use crate::Timestamp;

/// Share of the budget at which a model is reported as near its budget.
pub const NEAR_BUDGET: f64 = 0.8;

/// How many rows `top_models` lists.
pub const TOP_MODELS: usize = 10;

/// A calendar month in UTC: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub start: Timestamp,
    pub end: Timestamp,
    year: i32,
    month: Month,
}

impl Period {
    /// The month `at` falls in.
    pub fn month_of(at: Timestamp) -> Period {
        let date = OffsetDateTime::from_unix_timestamp(at.millis().div_euclid(1000))
            .map_or(Date::MIN, OffsetDateTime::date);
        let (year, month) = (date.year(), date.month());
        let (next_year, next_month) = match month {
            Month::December => (year + 1, Month::January),
            month => (year, month.next()),
        };
        Period {
            start: first_of(year, month),
            end: first_of(next_year, next_month),
            year,
            month,
        }
    }

    /// Whole seconds from `at` to the end of this period (at least 1), for `Retry-After`.
    pub fn seconds_left(&self, at: Timestamp) -> u64 {
        let millis = self.end.millis().saturating_sub(at.millis()).max(1000);
        u64::try_from(millis.div_euclid(1000)).unwrap_or(1)
    }

    /// `YYYY-MM`, the key of this month in `Usage`.
    pub fn key(&self) -> String {
        format!("{:04}-{:02}", self.year, u8::from(self.month))
    }
}

fn first_of(year: i32, month: Month) -> Timestamp {
    let seconds = Date::from_calendar_date(year, month, 1)
        .map(|date| date.midnight().assume_utc().unix_timestamp())
        .unwrap_or_default();
    Timestamp(seconds.saturating_mul(1000))
}

/// Spend recorded for one agent: month (`YYYY-MM`) → usage key (`LlmConfig::label`) → USD.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage(pub BTreeMap<String, BTreeMap<String, f64>>);

impl Usage {
    /// The spend of one period, from `(label, USD)` pairs; a label listed twice adds up.
    pub fn of_period<'a>(
        period: &Period,
        spends: impl IntoIterator<Item = (&'a str, f64)>,
    ) -> Usage {
        let mut month: BTreeMap<String, f64> = BTreeMap::new();
        for (label, usd) in spends {
            *month.entry(label.to_owned()).or_default() += usd;
        }
        Usage(BTreeMap::from([(period.key(), month)]))
    }

    pub fn spend(&self, period: &Period, key: &str) -> f64 {
        self.0
            .get(&period.key())
            .and_then(|month| month.get(key))
            .copied()
            .filter(|spend| spend.is_finite() && *spend > 0.0)
            .unwrap_or(0.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BudgetStatus {
    Active,
    #[serde(rename = "Near budget")]
    NearBudget,
    #[serde(rename = "Budget reached")]
    BudgetReached,
    Uncapped,
}

/// A budget of 0 is reached at once: it blocks the model.
pub fn budget_status(budget: Option<f64>, spend: f64) -> BudgetStatus {
    match budget {
        None => BudgetStatus::Uncapped,
        Some(budget) if spend >= budget => BudgetStatus::BudgetReached,
        Some(budget) if spend >= budget * NEAR_BUDGET => BudgetStatus::NearBudget,
        Some(_) => BudgetStatus::Active,
    }
}

/// One model mapping of one agent in the current period (the contract's `AgentModelUsage`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelUsage {
    pub label: String,
    pub role: Role,
    pub model_provider: String,
    pub provider: String,
    pub model: String,
    pub monthly_budget_usd: Option<f64>,
    pub estimated_spend_usd: f64,
    pub remaining_budget_usd: Option<f64>,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub status: BudgetStatus,
}

pub fn model_usage(configs: &[LlmConfig], usage: &Usage, period: &Period) -> Vec<ModelUsage> {
    configs
        .iter()
        .map(|config| {
            let label = config.label();
            let spend = usage.spend(period, &label);
            let budget = config.monthly_budget_usd;
            ModelUsage {
                label,
                role: config.role,
                model_provider: config.model_provider.clone(),
                provider: config.provider.clone(),
                model: config.model.clone(),
                monthly_budget_usd: budget,
                estimated_spend_usd: spend,
                remaining_budget_usd: budget.map(|budget| round((budget - spend).max(0.0))),
                period_start: period.start,
                period_end: period.end,
                status: budget_status(budget, spend),
            }
        })
        .collect()
}

/// A `ModelUsage` row with the agent it belongs to (the contract's `ModelSpendItem`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpendItem {
    #[serde(flatten)]
    pub usage: ModelUsage,
    pub agent_name: String,
    pub agent_namespace: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpendSummary {
    pub total_estimated_spend_usd: f64,
    pub total_budget_usd: f64,
    pub remaining_budget_usd: f64,
    pub budgeted_model_count: usize,
    pub near_budget_count: usize,
    pub blocked_count: usize,
    pub uncapped_spend_usd: f64,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
}

/// `GET /model-spend`: the workspace's budget posture for the period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpendReport {
    pub summary: SpendSummary,
    /// Rows near or at their budget, those at it first, then by spend.
    pub warnings: Vec<SpendItem>,
    /// The highest-spend rows, at most `TOP_MODELS`.
    pub top_models: Vec<SpendItem>,
}

pub fn spend_report(items: Vec<SpendItem>, period: &Period) -> SpendReport {
    let mut summary = SpendSummary {
        total_estimated_spend_usd: 0.0,
        total_budget_usd: 0.0,
        remaining_budget_usd: 0.0,
        budgeted_model_count: 0,
        near_budget_count: 0,
        blocked_count: 0,
        uncapped_spend_usd: 0.0,
        period_start: period.start,
        period_end: period.end,
    };
    for item in &items {
        let usage = &item.usage;
        summary.total_estimated_spend_usd += usage.estimated_spend_usd;
        match usage.monthly_budget_usd {
            Some(budget) => {
                summary.budgeted_model_count += 1;
                summary.total_budget_usd += budget;
                summary.remaining_budget_usd += usage.remaining_budget_usd.unwrap_or(0.0);
            }
            None => summary.uncapped_spend_usd += usage.estimated_spend_usd,
        }
        match usage.status {
            BudgetStatus::NearBudget => summary.near_budget_count += 1,
            BudgetStatus::BudgetReached => summary.blocked_count += 1,
            BudgetStatus::Active | BudgetStatus::Uncapped => (),
        }
    }
    for total in [
        &mut summary.total_estimated_spend_usd,
        &mut summary.total_budget_usd,
        &mut summary.remaining_budget_usd,
        &mut summary.uncapped_spend_usd,
    ] {
        *total = round(*total);
    }

    let by_spend = |a: &SpendItem, b: &SpendItem| {
        b.usage
            .estimated_spend_usd
            .total_cmp(&a.usage.estimated_spend_usd)
            .then_with(|| a.agent_name.cmp(&b.agent_name))
            .then_with(|| a.usage.label.cmp(&b.usage.label))
    };
    let mut warnings: Vec<SpendItem> = items
        .iter()
        .filter(|item| {
            matches!(
                item.usage.status,
                BudgetStatus::NearBudget | BudgetStatus::BudgetReached
            )
        })
        .cloned()
        .collect();
    warnings.sort_by(|a, b| {
        let reached = |item: &SpendItem| item.usage.status == BudgetStatus::BudgetReached;
        reached(b).cmp(&reached(a)).then_with(|| by_spend(a, b))
    });
    let mut top_models = items;
    top_models.sort_by(by_spend);
    top_models.truncate(TOP_MODELS);
    SpendReport {
        summary,
        warnings,
        top_models,
    }
}

/// Dollar amounts to a millionth, so sums don't show float noise like 0.30000000000000004.
fn round(usd: f64) -> f64 {
    (usd * 1_000_000.0).round() / 1_000_000.0
}

#[cfg(test)]
mod tests;
