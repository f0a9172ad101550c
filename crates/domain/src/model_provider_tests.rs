use super::*;
use crate::tool::KeyLocation;
use serde_json::json;

fn parse(body: Value) -> ModelProviderInput {
    ModelProviderInput::parse(body.clone()).unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn error(body: Value) -> String {
    match ModelProviderInput::parse(body.clone()) {
        Ok(input) => panic!("{body} was accepted: {input:?}"),
        Err(error) => error.0,
    }
}

fn stored(fields: &[&str]) -> Vec<String> {
    fields.iter().map(|f| (*f).to_owned()).collect()
}

#[test]
fn spec_shape_with_every_field() {
    let input = parse(json!({
        "name": "openai",
        "spec": {
            "provider": "openai", "endpoint": "https://api.openai.com/v1/",
            "models": ["gpt-4o-mini", " gpt-4o "],
            "auth": {"type": "APIKey", "apiKeyConfig": {"in": "Header", "name": "Authorization", "valuePrefix": "Bearer "}},
            "rateLimit": {"requestsPerMinute": 60}
        },
        "credentials": {"api_key": "sk-test-123"}
    }));
    assert_eq!(input.name.as_str(), "openai");
    let spec = &input.spec;
    assert_eq!(spec.provider, Provider::OpenAi);
    assert_eq!(spec.endpoint.as_deref(), Some("https://api.openai.com/v1"));
    assert_eq!(spec.models, ["gpt-4o-mini", "gpt-4o"]);
    assert_eq!(
        spec.rate_limit,
        Some(RateLimit {
            requests_per_minute: 60
        })
    );
    let config = spec.auth.api_key_config.clone().unwrap();
    assert_eq!(config.secret_ref.unwrap().name, "openai-credentials");
    let stored_spec = serde_json::to_value(spec).unwrap();
    assert_eq!(stored_spec["auth"]["type"], "APIKey");
    assert_eq!(stored_spec["rateLimit"]["requestsPerMinute"], 60);
    assert!(!stored_spec.to_string().contains("sk-test-123"));
    let fields = input.credentials.fields();
    assert_eq!(fields.len(), 1);
    assert_eq!(
        (fields[0].0, fields[0].1.expose()),
        (API_KEY, "sk-test-123")
    );
    // What is stored reads back as the same spec.
    let back: ModelProviderSpec = serde_json::from_value(stored_spec).unwrap();
    assert_eq!(&back, spec);
}

#[test]
fn flat_shape_and_metadata_name() {
    let input = parse(json!({
        "name": "claude", "provider": "Anthropic", "models": ["claude-3-5-sonnet-latest"],
        "auth": {"type": "apikey"}, "rate_limit": {"requests_per_minute": 5}
    }));
    assert_eq!(input.spec.provider, Provider::Anthropic);
    assert_eq!(input.spec.auth.kind, ProviderAuthType::ApiKey);
    assert_eq!(input.spec.rate_limit.unwrap().requests_per_minute, 5);
    let input = parse(
        json!({"metadata": {"name": "local"}, "spec": {"provider": "ollama", "models": ["llama3.1:8b"]}}),
    );
    assert_eq!(input.name.as_str(), "local");
}

#[test]
fn provider_defaults() {
    let openai = parse(json!({"name": "o", "provider": "openai", "models": ["gpt-4o"]})).spec;
    assert_eq!(
        openai.endpoint.as_deref(),
        Some("https://api.openai.com/v1")
    );
    assert_eq!(openai.auth.kind, ProviderAuthType::ApiKey);
    let config = openai.auth.api_key_config.unwrap();
    assert_eq!(
        (
            config.location,
            config.name.as_str(),
            config.value_prefix.as_str()
        ),
        (KeyLocation::Header, "Authorization", "Bearer ")
    );

    let anthropic = parse(json!({"name": "a", "provider": "anthropic", "models": ["claude"]})).spec;
    assert_eq!(
        anthropic.endpoint.as_deref(),
        Some("https://api.anthropic.com")
    );
    let config = anthropic.auth.api_key_config.unwrap();
    assert_eq!(
        (config.name.as_str(), config.value_prefix.as_str()),
        ("x-api-key", "")
    );

    let ollama = parse(json!({"name": "l", "provider": "ollama", "models": ["llama3"]})).spec;
    assert_eq!(ollama.endpoint.as_deref(), Some("http://127.0.0.1:11434"));
    assert_eq!(ollama.auth.kind, ProviderAuthType::None);
    assert_eq!(
        serde_json::to_value(&ollama.auth).unwrap(),
        json!({"type": "None"})
    );

    let bedrock = parse(json!({"name": "b", "provider": "bedrock", "models": ["anthropic.claude-3-haiku-20240307-v1:0"],
        "auth": {"awsConfig": {"region": "eu-west-1"}}}))
    .spec;
    assert_eq!(bedrock.auth.kind, ProviderAuthType::AwsSignature);
    assert_eq!(
        bedrock.endpoint.as_deref(),
        Some("https://bedrock-runtime.eu-west-1.amazonaws.com")
    );
    let aws = bedrock.auth.aws_config.unwrap();
    assert_eq!(aws.region, "eu-west-1");
    assert_eq!(aws.credentials_secret_ref.unwrap().name, "b-credentials");

    let playground = parse(json!({"name": "p", "provider": "playground", "models": ["echo"]})).spec;
    assert_eq!(playground.endpoint, None);
    assert_eq!(playground.auth.kind, ProviderAuthType::None);
    assert!(
        serde_json::to_value(&playground)
            .unwrap()
            .get("endpoint")
            .is_none()
    );
}

#[test]
fn explicit_endpoint_and_key_config_win() {
    let spec = parse(json!({"name": "vllm", "spec": {"provider": "openai", "endpoint": "http://10.0.0.5:8000/v1",
        "models": ["mistral"], "auth": {"type": "APIKey", "apiKeyConfig": {"in": "Query", "name": "key"}}}}))
    .spec;
    assert_eq!(spec.endpoint.as_deref(), Some("http://10.0.0.5:8000/v1"));
    let config = spec.auth.api_key_config.unwrap();
    assert_eq!(
        (config.location, config.name.as_str()),
        (KeyLocation::Query, "key")
    );
    // An empty endpoint means "use the default".
    let spec =
        parse(json!({"name": "o", "provider": "openai", "endpoint": " ", "models": ["m"]})).spec;
    assert_eq!(spec.endpoint.as_deref(), Some("https://api.openai.com/v1"));
}

#[test]
fn a_client_secret_ref_is_replaced_by_ours() {
    let spec = parse(json!({"name": "o", "spec": {"provider": "openai", "models": ["m"],
        "auth": {"type": "APIKey", "apiKeyConfig": {"name": "Authorization", "secretRef": {"name": "elsewhere"}}}}}))
    .spec;
    assert_eq!(
        spec.auth.api_key_config.unwrap().secret_ref.unwrap().name,
        "o-credentials"
    );
}

#[test]
fn oauth2_needs_a_token_url() {
    let spec = parse(json!({"name": "corp", "provider": "openai", "models": ["m"],
        "auth": {"type": "OAuth2", "oauth2Config": {"tokenUrl": "https://login.example.com/token", "grantType": "client_credentials"}},
        "credentials": {"clientId": "id", "client_secret": "s"}}))
    .spec;
    let config = spec.auth.oauth2_config.unwrap();
    assert_eq!(config.token_url, "https://login.example.com/token");
    assert_eq!(
        config.credentials_secret_ref.unwrap().name,
        "corp-credentials"
    );
}

#[test]
fn credentials_aliases_and_empty_values() {
    let input = parse(
        json!({"name": "b", "provider": "bedrock", "models": ["m"], "auth": {"awsConfig": {"region": "us-east-1"}},
        "credentials": {"awsAccessKeyId": "AKIA1", "aws_secret_access_key": "s3cr3t", "api_key": ""}}),
    );
    let fields: Vec<&str> = input
        .credentials
        .fields()
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(fields, [AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY]);
    let input =
        parse(json!({"name": "o", "provider": "openai", "models": ["m"], "credentials": null}));
    assert!(input.credentials.fields().is_empty());
}

#[test]
fn status_follows_auth_and_stored_credentials() {
    let spec = |body: Value| parse(body).spec;
    let openai = spec(json!({"name": "o", "provider": "openai", "models": ["m"]}));
    let pending = openai.status(&[]);
    assert_eq!(pending.phase, ProviderPhase::Pending);
    assert_eq!(pending.message, "API key not set: send credentials.api_key");
    assert_eq!(
        openai.status(&stored(&[API_KEY])).phase,
        ProviderPhase::Available
    );

    let bedrock = spec(
        json!({"name": "b", "provider": "bedrock", "models": ["m"], "auth": {"awsConfig": {"region": "us-east-1"}}}),
    );
    let half = bedrock.status(&stored(&[AWS_ACCESS_KEY_ID]));
    assert_eq!(half.phase, ProviderPhase::Pending);
    assert_eq!(
        half.message,
        "AWS credentials not set: send credentials.aws_secret_access_key"
    );
    assert_eq!(
        bedrock
            .status(&stored(&[AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY]))
            .phase,
        ProviderPhase::Available
    );

    let ollama = spec(json!({"name": "l", "provider": "ollama", "models": ["m"]}));
    assert_eq!(ollama.status(&[]).phase, ProviderPhase::Available);
    let playground = spec(json!({"name": "p", "provider": "playground", "models": ["m"]}));
    assert_eq!(playground.status(&[]).phase, ProviderPhase::Available);
    // A key stored for another auth type does not make an OAuth2 provider usable.
    let oauth = spec(json!({"name": "c", "provider": "openai", "models": ["m"],
        "auth": {"type": "OAuth2", "oauth2Config": {"tokenUrl": "https://x/token"}}}));
    let status = oauth.status(&stored(&[API_KEY, CLIENT_ID]));
    assert_eq!(status.phase, ProviderPhase::Pending);
    assert!(
        status.message.contains("credentials.client_secret"),
        "{status:?}"
    );
    assert_eq!(serde_json::to_value(&status).unwrap()["phase"], "Pending");
}

#[test]
fn rejects_bad_input_with_clear_messages() {
    let cases = [
        (json!([]), "request body must be a JSON object"),
        (
            json!({"provider": "openai", "models": ["m"]}),
            "name is required",
        ),
        (
            json!({"name": "Open AI", "provider": "openai", "models": ["m"]}),
            "invalid name",
        ),
        (
            json!({"name": "x", "models": ["m"]}),
            "provider is required",
        ),
        (
            json!({"name": "x", "provider": "cohere", "models": ["m"]}),
            "unknown provider \"cohere\"",
        ),
        (
            json!({"name": "x", "provider": 7, "models": ["m"]}),
            "provider must be a string",
        ),
        (
            json!({"name": "x", "provider": "openai"}),
            "models is required",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": []}),
            "models is required",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": "gpt-4o"}),
            "models must be a list of strings",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["gpt-4o", 4]}),
            "models must be a list of strings",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": [""]}),
            "models must not be empty",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["gpt 4"]}),
            "must not contain spaces",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["a", "a"]}),
            "listed twice",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "endpoint": "api.openai.com"}),
            "not a valid URL",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "endpoint": "ftp://x"}),
            "http:// or https://",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "endpoint": 443}),
            "endpoint must be a string",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "auth": "APIKey"}),
            "auth must be an object",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "auth": {"type": "Kerberos"}}),
            "unknown auth.type \"Kerberos\"",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "auth": {"type": "APIKey", "apiKeyConfig": {"name": " "}}}),
            "apiKeyConfig.name",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "auth": {"type": "APIKey", "apiKeyConfig": {"in": "Body"}}}),
            "invalid auth.apiKeyConfig",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "auth": {"type": "None", "apiKeyConfig": {}}}),
            "auth.apiKeyConfig is used only with auth type APIKey",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "auth": {"type": "AWSSignature"}}),
            "AWSSignature is for provider bedrock",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "auth": {"type": "OAuth2"}}),
            "tokenUrl is required",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "auth": {"type": "OAuth2", "oauth2Config": {"tokenUrl": "nope"}}}),
            "not a valid URL",
        ),
        (
            json!({"name": "x", "provider": "bedrock", "models": ["m"]}),
            "needs auth.awsConfig.region",
        ),
        (
            json!({"name": "x", "provider": "bedrock", "models": ["m"], "auth": {"awsConfig": {"region": "Mars"}}}),
            "not an AWS region",
        ),
        (
            json!({"name": "x", "provider": "bedrock", "models": ["m"], "auth": {"type": "APIKey"}}),
            "bedrock uses auth type AWSSignature",
        ),
        (
            json!({"name": "x", "provider": "playground", "models": ["m"], "endpoint": "http://x"}),
            "takes no endpoint",
        ),
        (
            json!({"name": "x", "provider": "playground", "models": ["m"], "auth": {"type": "APIKey"}}),
            "takes auth type None",
        ),
        (
            json!({"name": "x", "provider": "playground", "models": ["m"], "credentials": {"api_key": "k"}}),
            "takes no credentials",
        ),
        (
            json!({"name": "x", "provider": "ollama", "models": ["m"], "credentials": {"api_key": "k"}}),
            "credentials.api_key not used with auth type None",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "credentials": {"aws_access_key_id": "k"}}),
            "credentials.aws_access_key_id not used with auth type APIKey",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "credentials": {"password": "k"}}),
            "unknown credentials field \"password\"",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "credentials": {"api_key": 5}}),
            "credentials.api_key must be a string",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "credentials": "sk"}),
            "credentials must be an object",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "rateLimit": {"requestsPerMinute": 0}}),
            "positive integer",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "rateLimit": {"requestsPerMinute": -5}}),
            "positive integer",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "rateLimit": {"requestsPerMinute": 1.5}}),
            "positive integer",
        ),
        (
            json!({"name": "x", "provider": "openai", "models": ["m"], "rateLimit": 60}),
            "rateLimit must be an object",
        ),
        (
            json!({"name": "x", "spec": "openai"}),
            "spec must be an object",
        ),
    ];
    for (body, expected) in cases {
        let message = error(body.clone());
        assert!(message.contains(expected), "{body}: {message}");
    }
}

#[test]
fn pricing_is_per_listed_model_and_non_negative() {
    let input = ModelProviderInput::parse(json!({"name": "p", "provider": "openai", "models": ["gpt-4o", "mini"],
        "pricing": {"gpt-4o": {"input_per_million": 2.5, "output_per_million": 10}, "mini": {"inputPerMillion": 0.15}}}))
    .unwrap();
    let pricing = &input.spec.pricing;
    assert_eq!(
        pricing["gpt-4o"],
        Price {
            input_per_million: 2.5,
            output_per_million: 10.0
        }
    );
    assert_eq!(
        pricing["mini"],
        Price {
            input_per_million: 0.15,
            output_per_million: 0.0
        }
    );
    let stored = serde_json::to_value(&input.spec).unwrap();
    assert_eq!(
        stored["pricing"]["gpt-4o"],
        json!({"input_per_million": 2.5, "output_per_million": 10.0})
    );
    let back: ModelProviderSpec = serde_json::from_value(stored).unwrap();
    assert_eq!(back, input.spec);

    for (body, error) in [
        (
            json!({"pricing": {"other": {"input_per_million": 1}}}),
            "pricing.other: model \"other\" is not in models",
        ),
        (
            json!({"pricing": {"m": {"input_per_million": -1}}}),
            "pricing.m.input_per_million must be a non-negative number",
        ),
        (
            json!({"pricing": {"m": {"output_per_million": "1"}}}),
            "pricing.m.output_per_million must be a non-negative number",
        ),
        (
            json!({"pricing": {"m": {"input": 1}}}),
            "pricing.m.input is not a price field",
        ),
        (json!({"pricing": {"m": 3}}), "pricing.m must be an object"),
        (json!({"pricing": []}), "pricing must be an object"),
    ] {
        let mut body = body;
        body["name"] = json!("p");
        body["provider"] = json!("openai");
        body["models"] = json!(["m"]);
        let message = ModelProviderInput::parse(body).unwrap_err().0;
        assert!(message.starts_with(error), "{message}");
    }
}

#[test]
fn cost_is_in_whole_nano_dollars_rounded_up() {
    let price = Price {
        input_per_million: 2.5,
        output_per_million: 10.0,
    };
    // 1000 × $2.5/M + 100 × $10/M = $0.0025 + $0.001 = $0.0035.
    assert_eq!(price.cost_nanos(1000, 100), 3_500_000);
    let cheap = Price {
        input_per_million: 0.15,
        output_per_million: 0.0,
    };
    assert_eq!(cheap.cost_nanos(1, 0), 150);
    assert_eq!(
        Price {
            input_per_million: 0.0001,
            output_per_million: 0.0
        }
        .cost_nanos(1, 0),
        1
    );
    assert_eq!(Price::default().cost_nanos(1_000_000, 1_000_000), 0);
}

#[test]
fn routing_by_model_name_then_by_prefix() {
    let spec = |provider: &str, models: &[&str]| {
        ModelProviderInput::parse(json!({"name": "x", "provider": provider, "models": models}))
            .unwrap()
            .spec
    };
    let (a, b, c) = (
        spec("openai", &["gpt-4o", "shared"]),
        spec("anthropic", &["claude", "shared"]),
        spec("ollama", &["llama3", "org/model"]),
    );
    let providers = [("a-openai", &a), ("b-claude", &b), ("c-local", &c)];
    assert_eq!(route(&providers, "gpt-4o"), Some((0, "gpt-4o".to_owned())));
    // Two providers list it: the first by name wins.
    assert_eq!(route(&providers, "shared"), Some((0, "shared".to_owned())));
    assert_eq!(
        route(&providers, "b-claude/shared"),
        Some((1, "shared".to_owned()))
    );
    assert_eq!(
        route(&providers, "anthropic/shared"),
        Some((1, "shared".to_owned()))
    );
    assert_eq!(
        route(&providers, "ollama/llama3"),
        Some((2, "llama3".to_owned()))
    );
    // A model whose own name has a slash is found as it is.
    assert_eq!(
        route(&providers, "org/model"),
        Some((2, "org/model".to_owned()))
    );
    assert_eq!(route(&providers, "openai/claude"), None);
    assert_eq!(route(&providers, "missing"), None);
    assert_eq!(route(&[], "gpt-4o"), None);
}
