#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed step should stop the test loudly"
)]
//! Golden files for every translation: `tests/golden/<kind>/<case>.<in>` is translated and
//! compared with `<case>.<out>.json` beside it. `UPDATE_GOLDEN=1 cargo nextest run -p
//! runagents-llm` rewrites the expected files; review the diff before committing.

use std::path::{Path, PathBuf};

use runagents_llm::wire::{ChatChunk, ChatRequest};
use runagents_llm::{anthropic, bedrock, playground, sse};
use serde_json::Value;

fn cases(kind: &str, input_ext: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(kind);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(input_ext) && name.matches('.').count() == 1
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases in {}", dir.display());
    cases
}

/// Compares `actual` with the expected file, or rewrites it under `UPDATE_GOLDEN=1`.
fn check(input: &Path, suffix: &str, actual: &Value) {
    let expected_path = input.with_extension(format!("{suffix}.json"));
    let pretty = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, pretty).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run with UPDATE_GOLDEN=1 and review it",
            expected_path.display()
        )
    });
    let expected: Value = serde_json::from_str(&expected).unwrap();
    assert_eq!(
        &expected,
        actual,
        "{} differs from the translation of {}:\n{pretty}",
        expected_path.display(),
        input.display()
    );
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn openai_requests_to_anthropic() {
    for case in cases("to_anthropic", ".json") {
        let request: ChatRequest = serde_json::from_value(read_json(&case)).unwrap();
        check(
            &case,
            "anthropic",
            &anthropic::request(&request, &request.model),
        );
    }
}

#[test]
fn anthropic_responses_to_openai() {
    for case in cases("from_anthropic", ".json") {
        let response = anthropic::response(&read_json(&case), 1_700_000_000).unwrap();
        check(&case, "openai", &serde_json::to_value(response).unwrap());
    }
}

#[test]
fn openai_requests_to_bedrock() {
    for case in cases("to_bedrock", ".json") {
        let request: ChatRequest = serde_json::from_value(read_json(&case)).unwrap();
        check(&case, "bedrock", &bedrock::request(&request));
    }
}

#[test]
fn bedrock_responses_to_openai() {
    for case in cases("from_bedrock", ".json") {
        let response = bedrock::response(
            &read_json(&case),
            "anthropic.claude-v2:1",
            "chatcmpl-bedrock-1",
            1_700_000_000,
        )
        .unwrap();
        check(&case, "openai", &serde_json::to_value(response).unwrap());
    }
}

/// Translates an Anthropic event stream delivered `piece` bytes at a time.
fn translate_stream(raw: &str, piece: usize) -> Vec<ChatChunk> {
    let mut parser = sse::Parser::new();
    let mut translator = anthropic::StreamTranslator::new(1_700_000_000);
    let mut events = Vec::new();
    for bytes in raw.as_bytes().chunks(piece) {
        parser.feed(bytes, &mut events);
    }
    parser.finish(&mut events);
    events
        .iter()
        .flat_map(|event| translator.event(event).unwrap())
        .collect()
}

#[test]
fn anthropic_streams_to_openai_chunks() {
    for case in cases("anthropic_stream", ".sse") {
        let raw = std::fs::read_to_string(&case).unwrap();
        let whole = translate_stream(&raw, raw.len());
        for piece in [1, 2, 7, 64] {
            assert_eq!(translate_stream(&raw, piece), whole, "{}", case.display());
        }
        check(&case, "openai", &serde_json::to_value(whole).unwrap());
    }
}

#[test]
fn playground_answers() {
    for case in cases("playground", ".json") {
        let request: ChatRequest = serde_json::from_value(read_json(&case)).unwrap();
        let response = playground::complete(&request, 1_700_000_000);
        check(
            &case,
            "playground",
            &serde_json::to_value(response).unwrap(),
        );
    }
}
