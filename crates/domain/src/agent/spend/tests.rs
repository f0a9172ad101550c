use super::*;

/// 2026-03-12T12:00:00Z
const MID_MARCH: Timestamp = Timestamp(1_773_316_800_000);

fn config(role: Role, model: &str, budget: Option<f64>) -> LlmConfig {
    LlmConfig {
        role,
        provider: "openai".to_owned(),
        model: model.to_owned(),
        model_provider: String::new(),
        monthly_budget_usd: budget,
    }
}

fn usage(period: &Period, spends: &[(&str, f64)]) -> Usage {
    let month = spends
        .iter()
        .map(|(key, usd)| ((*key).to_owned(), *usd))
        .collect();
    Usage(BTreeMap::from([(period.key(), month)]))
}

#[test]
fn period_is_the_utc_calendar_month() {
    let period = Period::month_of(MID_MARCH);
    assert_eq!(period.start.rfc3339(), "2026-03-01T00:00:00.000Z");
    assert_eq!(period.end.rfc3339(), "2026-04-01T00:00:00.000Z");
    assert_eq!(period.key(), "2026-03");
    let december = Period::month_of(Timestamp::parse_rfc3339("2025-12-31T23:59:59Z").unwrap());
    assert_eq!(december.start.rfc3339(), "2025-12-01T00:00:00.000Z");
    assert_eq!(december.end.rfc3339(), "2026-01-01T00:00:00.000Z");
    assert_eq!(Period::month_of(period.end).key(), "2026-04");
}

#[test]
fn budget_status_thresholds() {
    assert_eq!(budget_status(None, 123.0), BudgetStatus::Uncapped);
    assert_eq!(budget_status(Some(10.0), 0.0), BudgetStatus::Active);
    assert_eq!(budget_status(Some(10.0), 7.99), BudgetStatus::Active);
    assert_eq!(budget_status(Some(10.0), 8.0), BudgetStatus::NearBudget);
    assert_eq!(budget_status(Some(10.0), 9.99), BudgetStatus::NearBudget);
    assert_eq!(budget_status(Some(10.0), 10.0), BudgetStatus::BudgetReached);
    assert_eq!(budget_status(Some(10.0), 12.0), BudgetStatus::BudgetReached);
    assert_eq!(budget_status(Some(0.0), 0.0), BudgetStatus::BudgetReached);
}

#[test]
fn model_usage_reads_this_months_spend_by_label() {
    let period = Period::month_of(MID_MARCH);
    let configs = [
        config(Role::Default, "gpt-4o", Some(10.0)),
        config(Role::Embedding, "text-embedding-3-small", None),
    ];
    let mut recorded = usage(
        &period,
        &[
            ("default: openai/gpt-4o", 8.5),
            ("embedding: openai/text-embedding-3-small", 0.25),
        ],
    );
    // Last month's spend does not count.
    recorded.0.insert(
        "2026-02".to_owned(),
        BTreeMap::from([("default: openai/gpt-4o".to_owned(), 99.0)]),
    );
    let rows = model_usage(&configs, &recorded, &period);
    assert_eq!(rows[0].label, "default: openai/gpt-4o");
    assert_eq!(rows[0].estimated_spend_usd, 8.5);
    assert_eq!(rows[0].remaining_budget_usd, Some(1.5));
    assert_eq!(rows[0].status, BudgetStatus::NearBudget);
    assert_eq!(rows[1].remaining_budget_usd, None);
    assert_eq!(rows[1].status, BudgetStatus::Uncapped);
    let json = serde_json::to_value(&rows[0]).unwrap();
    assert_eq!(json["status"], "Near budget");
    assert_eq!(json["role"], "default");
    assert_eq!(json["period_start"], "2026-03-01T00:00:00.000Z");
    assert_eq!(
        serde_json::to_value(&rows[1]).unwrap()["monthly_budget_usd"],
        serde_json::Value::Null
    );
}

#[test]
fn remaining_budget_never_goes_negative_and_negative_spend_is_ignored() {
    let period = Period::month_of(MID_MARCH);
    let rows = model_usage(
        &[config(Role::Default, "m", Some(1.0))],
        &usage(&period, &[("default: openai/m", 3.0)]),
        &period,
    );
    assert_eq!(rows[0].remaining_budget_usd, Some(0.0));
    assert_eq!(rows[0].status, BudgetStatus::BudgetReached);
    let negative = usage(&period, &[("default: openai/m", -5.0)]);
    assert_eq!(negative.spend(&period, "default: openai/m"), 0.0);
}

fn item(agent: &str, model: &str, budget: Option<f64>, spend: f64, period: &Period) -> SpendItem {
    let config = config(Role::Default, model, budget);
    let recorded = usage(period, &[(&config.label(), spend)]);
    SpendItem {
        usage: model_usage(&[config], &recorded, period).remove(0),
        agent_name: agent.to_owned(),
        agent_namespace: "default".to_owned(),
    }
}

#[test]
fn report_sums_budgets_and_flags_warnings() {
    let period = Period::month_of(MID_MARCH);
    let items = vec![
        item("a", "gpt-4o", Some(10.0), 2.0, &period), // Active, 8 left
        item("b", "gpt-4o", Some(5.0), 4.5, &period),  // Near budget, 0.5 left
        item("c", "claude", Some(1.0), 1.2, &period),  // Budget reached, 0 left
        item("d", "llama", None, 0.1, &period),        // Uncapped
        item("e", "mini", None, 0.2, &period),         // Uncapped
    ];
    let report = spend_report(items, &period);
    let summary = &report.summary;
    assert_eq!(summary.total_estimated_spend_usd, 8.0);
    assert_eq!(summary.total_budget_usd, 16.0);
    assert_eq!(summary.remaining_budget_usd, 8.5);
    assert_eq!(summary.budgeted_model_count, 3);
    assert_eq!(summary.near_budget_count, 1);
    assert_eq!(summary.blocked_count, 1);
    assert_eq!(summary.uncapped_spend_usd, 0.3);
    assert_eq!(summary.period_end, period.end);
    let warned: Vec<&str> = report
        .warnings
        .iter()
        .map(|w| w.agent_name.as_str())
        .collect();
    assert_eq!(warned, vec!["c", "b"], "reached first");
    let top: Vec<&str> = report
        .top_models
        .iter()
        .map(|w| w.agent_name.as_str())
        .collect();
    assert_eq!(top, vec!["b", "a", "c", "e", "d"]);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["warnings"][0]["agent_name"], "c");
    assert_eq!(json["warnings"][0]["status"], "Budget reached");
    assert_eq!(json["top_models"][0]["label"], "default: openai/gpt-4o");
    assert_eq!(json["summary"]["period_start"], "2026-03-01T00:00:00.000Z");
}

#[test]
fn report_of_nothing_is_zero_and_top_models_is_capped() {
    let period = Period::month_of(MID_MARCH);
    let empty = spend_report(Vec::new(), &period);
    assert_eq!(empty.summary.total_estimated_spend_usd, 0.0);
    assert!(empty.warnings.is_empty() && empty.top_models.is_empty());
    let many = (0..15)
        .map(|i| item(&format!("agent-{i:02}"), "m", None, f64::from(i), &period))
        .collect();
    let report = spend_report(many, &period);
    assert_eq!(report.top_models.len(), TOP_MODELS);
    assert_eq!(report.top_models[0].agent_name, "agent-14");
}

#[test]
fn usage_of_a_period_adds_repeated_labels() {
    let period = Period::month_of(MID_MARCH);
    let usage = Usage::of_period(
        &period,
        [("default: m", 1.5), ("chat: n", 1.0), ("default: m", 0.25)],
    );
    assert_eq!(usage.spend(&period, "default: m"), 1.75);
    assert_eq!(usage.spend(&period, "chat: n"), 1.0);
    assert_eq!(usage.spend(&Period::month_of(period.end), "chat: n"), 0.0);
}

#[test]
fn seconds_left_in_the_period() {
    let period = Period::month_of(MID_MARCH);
    // 2026-03-12T12:00Z to 2026-04-01T00:00Z is 19.5 days.
    assert_eq!(period.seconds_left(MID_MARCH), 19 * 86_400 + 43_200);
    assert_eq!(period.seconds_left(period.end), 1);
}
