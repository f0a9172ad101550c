//! What lists show of an access request's body, read from its stored JSON text without building
//! a `serde_json::Value` tree: the queue lists up to 10,000 requests, and building (then
//! dropping) a tree per body was most of its time.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// A request body's text fields and routing, borrowed from the body's text where no escape
/// needs decoding. A text field reads as `body[key].as_str().unwrap_or_default()` reads a
/// parsed body: the string under that key, or "" when it is absent or not a string (the last
/// one wins if a key is repeated). `routing` is the value under "routing" exactly as stored, if
/// the body has that key. A body that is not an object has none of them.
#[derive(Debug, Default)]
pub struct RequestFields<'a> {
    pub subject: Cow<'a, str>,
    pub agent_id: Cow<'a, str>,
    pub tool_id: Cow<'a, str>,
    pub capability: Cow<'a, str>,
    pub tool_method: Cow<'a, str>,
    pub tool_url: Cow<'a, str>,
    pub duration: Cow<'a, str>,
    pub scope: Cow<'a, str>,
    pub approver_id: Cow<'a, str>,
    pub channel: Cow<'a, str>,
    pub reason: Cow<'a, str>,
    pub message: Cow<'a, str>,
    pub routing: Option<&'a RawValue>,
}

impl<'a> RequestFields<'a> {
    /// Reads them from a body's JSON text.
    pub fn read(body: &'a RawValue) -> Self {
        // Only a body that is not an object fails (every value of a key is accepted), and such
        // a body has none of the fields.
        serde_json::from_str(body.get()).unwrap_or_default()
    }
}

impl<'de> Deserialize<'de> for RequestFields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = RequestFields<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a request body (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = RequestFields::default();
        while let Some(Text(key)) = map.next_key()? {
            let slot = match key.as_ref() {
                "subject" => &mut fields.subject,
                "agent_id" => &mut fields.agent_id,
                "tool_id" => &mut fields.tool_id,
                "capability" => &mut fields.capability,
                "tool_method" => &mut fields.tool_method,
                "tool_url" => &mut fields.tool_url,
                "duration" => &mut fields.duration,
                "scope" => &mut fields.scope,
                "approver_id" => &mut fields.approver_id,
                "channel" => &mut fields.channel,
                "reason" => &mut fields.reason,
                "message" => &mut fields.message,
                "routing" => {
                    fields.routing = Some(map.next_value()?);
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value::<Text<'de>>()?.0;
        }
        Ok(fields)
    }
}

/// Any JSON value, kept only if it is a string (borrowed when it has no escapes); "" otherwise.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(text)))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed("")))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed("")))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed("")))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed("")))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed("")))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Text(Cow::Borrowed("")))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text(Cow::Borrowed("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Each field as a parsed body reads it.
    fn from_value(body: &Value) -> Vec<String> {
        [
            "subject",
            "agent_id",
            "tool_id",
            "capability",
            "tool_method",
            "tool_url",
            "duration",
            "scope",
            "approver_id",
            "channel",
            "reason",
            "message",
        ]
        .iter()
        .map(|key| body[*key].as_str().unwrap_or_default().to_owned())
        .collect()
    }

    fn read(text: &str) -> (Vec<String>, Option<String>) {
        let raw = RawValue::from_string(text.to_owned()).unwrap();
        let fields = RequestFields::read(&raw);
        let texts = [
            &fields.subject,
            &fields.agent_id,
            &fields.tool_id,
            &fields.capability,
            &fields.tool_method,
            &fields.tool_url,
            &fields.duration,
            &fields.scope,
            &fields.approver_id,
            &fields.channel,
            &fields.reason,
            &fields.message,
        ]
        .iter()
        .map(|text| text.to_string())
        .collect();
        (
            texts,
            fields.routing.map(|routing| routing.get().to_owned()),
        )
    }

    #[test]
    fn reads_what_a_parsed_body_reads() {
        let bodies = [
            json!({"subject": "alice", "agent_id": "billing", "tool_id": "stripe",
                "capability": "charge", "tool_method": "POST", "tool_url": "https://x/v1?a=1",
                "duration": "4h", "scope": "run", "approver_id": "bob", "channel": "slack",
                "reason": "ok", "message": "quote \" backslash \\ tab \t é 😀 \u{1}",
                "policy": {"nested": [1, {"a": null}]}, "rule": 3, "routing": {"rule": "r"}}),
            json!({"agent_id": 7, "tool_id": null, "subject": ["a"], "scope": {"a": "b"},
                "reason": true, "duration": 1.5, "routing": null}),
            json!({}),
            json!(null),
            json!([1, 2]),
            json!("text"),
        ];
        for body in bodies {
            let (texts, routing) = read(&body.to_string());
            assert_eq!(texts, from_value(&body), "{body}");
            assert_eq!(routing, body.get("routing").map(Value::to_string), "{body}");
        }
    }

    #[test]
    fn borrows_unescaped_text_and_keeps_the_last_of_a_repeated_key() {
        let raw =
            RawValue::from_string(r#"{"agent_id":"a","agent_id":"b\"c","subject":"s"}"#.into())
                .unwrap();
        let fields = RequestFields::read(&raw);
        assert_eq!(fields.agent_id, "b\"c");
        assert!(matches!(fields.subject, Cow::Borrowed("s")));
        let spaced = RawValue::from_string(r#" { "routing" : { "b" : 1 } } "#.into()).unwrap();
        assert_eq!(
            RequestFields::read(&spaced).routing.map(RawValue::get),
            Some(r#"{ "b" : 1 }"#)
        );
    }
}
