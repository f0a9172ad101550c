use super::*;

fn files(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(path, content)| ((*path).to_owned(), (*content).to_owned()))
        .collect()
}

fn plan(entries: &[(&str, &str)], requirements: &str) -> Plan {
    plan_sources(&detect(&files(entries)), requirements)
}

#[test]
fn no_custom_code_is_tier_one() {
    for entries in [
        vec![("README.md", "def handler( in prose, StateGraph too")],
        vec![(
            "tools.py",
            "import requests\n\ndef helper():\n    return 1\n",
        )],
        vec![("prompt.txt", "You are helpful")],
    ] {
        let plan = plan(&entries, "");
        assert_eq!(plan.tier, 1, "{entries:?}");
        assert_eq!(plan.execution_mode, ExecutionMode::NativeLoop);
        assert!(!plan.build_required);
        assert_eq!(plan.build_profile, BuildProfile::NativeLoop);
    }
    // Requirements alone don't make code run.
    assert_eq!(plan(&[("notes.py", "x = 1")], "pandas").tier, 1);
}

#[test]
fn bare_handler_is_tier_two_without_a_build() {
    let plan = plan(
        &[(
            "agent.py",
            "from runagents import Agent\n\ndef handler(request, context):\n    return 'hi'\n",
        )],
        "runagents>=1.4\n# comment\n\nRunAgents == 1.4.2  # pinned\n",
    );
    assert_eq!(plan.tier, 2);
    assert_eq!(plan.execution_mode, ExecutionMode::PythonRuntime);
    assert!(!plan.build_required);
    assert_eq!(plan.build_profile, BuildProfile::SharedRuntime);
    assert!(
        plan.decision_reason.contains("def handler( in agent.py"),
        "{}",
        plan.decision_reason
    );
    let with_async = plan_sources(
        &detect(&files(&[("a.py", "async def handler(request):\n    pass")])),
        "",
    );
    assert_eq!((with_async.tier, with_async.build_required), (2, false));
}

#[test]
fn handler_with_extra_requirements_needs_a_build() {
    let plan = plan(
        &[("agent.py", "def handler(r):\n    pass")],
        "runagents\nopenai>=1.0\n",
    );
    assert_eq!((plan.tier, plan.build_required), (2, true));
    assert_eq!(plan.build_profile, BuildProfile::PythonEnvironment);
    assert!(
        plan.decision_reason
            .contains("1 requirement(s) beyond runagents"),
        "{}",
        plan.decision_reason
    );
}

#[test]
fn every_framework_marker_is_tier_two_with_a_build() {
    for (code, framework) in [
        ("executor = AgentExecutor(agent=a, tools=t)", "langchain"),
        (
            "agent = create_openai_tools_agent(llm, tools, prompt)",
            "langchain",
        ),
        ("graph = StateGraph(State)", "langgraph"),
        ("app: CompiledGraph = build()", "langgraph"),
        ("@CrewBase\nclass MyCrew:\n    pass", "crewai"),
        ("from langchain_openai import ChatOpenAI", "langchain"),
        ("import langchain", "langchain"),
        ("from langgraph.graph import END", "langgraph"),
        ("from crewai import Agent", "crewai"),
        ("    import autogen", "autogen"),
        (
            "from autogen_agentchat.agents import AssistantAgent",
            "autogen",
        ),
    ] {
        let files = files(&[("src/app.py", code)]);
        let detection = detect(&files);
        assert_eq!(detection.primary_framework(), Some(framework), "{code}");
        let plan = plan_sources(&detection, "");
        assert_eq!(plan.tier, 2, "{code}");
        assert!(plan.build_required, "{code}");
        assert!(
            plan.decision_reason.contains("src/app.py"),
            "{}",
            plan.decision_reason
        );
    }
}

#[test]
fn langgraph_is_named_before_langchain() {
    let detection = detect(&files(&[(
        "agent.py",
        "from langchain_core.messages import HumanMessage\nfrom langgraph.graph import StateGraph\n",
    )]));
    assert_eq!(detection.frameworks, vec!["langgraph", "langchain"]);
    assert_eq!(detection.primary_framework(), Some("langgraph"));
}

#[test]
fn only_python_files_are_scanned() {
    assert_eq!(
        plan(
            &[("agent.js", "import langchain from 'x'; def handler(")],
            ""
        )
        .tier,
        1
    );
}

#[test]
fn extra_requirements_ignore_runagents_comments_and_blank_lines() {
    assert_eq!(
        extra_requirements(
            "runagents\nrunagents[mcp]>=1.4\n  # x\n\nrequests==2.0 # http\n-r other.txt\n"
        ),
        vec!["requests==2.0", "-r other.txt"]
    );
    assert!(extra_requirements("").is_empty());
    assert_eq!(
        extra_requirements("runagents_extra"),
        vec!["runagents_extra"]
    );
}

#[test]
fn preview_follows_the_plan() {
    let instant = plan(&[("agent.py", "x = 1")], "").preview();
    assert_eq!(instant.user_state, UserState::Instant);
    assert_eq!(instant.confidence, Confidence::High);
    assert_eq!(instant.advanced_details.execution_kind, "native_loop");
    let build = plan(&[("agent.py", "graph = StateGraph(S)")], "").preview();
    assert_eq!(build.user_state, UserState::PreparingRuntime);
    assert!(build.advanced_details.build_required);
    let json = serde_json::to_value(&build).unwrap();
    assert_eq!(json["user_state"], "preparing_runtime");
    assert_eq!(json["advanced_details"]["execution_mode"], "PYTHON_RUNTIME");
    assert_eq!(
        json["advanced_details"]["build_profile"],
        "python_environment"
    );
}
