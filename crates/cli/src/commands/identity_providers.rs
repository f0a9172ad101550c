//! `runagents identity-providers list|get|apply|delete`.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use super::{deleted, items, required};
use crate::Ctx;
use crate::client::segment;
use crate::error::{Error, Result};
use crate::input;
use crate::render::{Cell, Table, pick};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List identity providers
    List,
    /// Show one identity provider
    Get { name: String },
    /// Create or update an identity provider from a YAML or JSON {name, spec} document
    Apply {
        #[arg(short = 'f', long, value_name = "FILE")]
        file: PathBuf,
        /// The provider's name (overrides the document's)
        #[arg(long)]
        name: Option<String>,
    },
    /// Delete an identity provider (refused while an agent uses it)
    Delete { name: String },
}

pub(crate) async fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let api = ctx.api()?;
    match cmd {
        Cmd::List => {
            let providers = api.get("/identity-providers").await?;
            ctx.out.either(&providers, |out| {
                let mut table = Table::new(&["NAME", "HOST", "ISSUER", "USER CLAIM", "DOMAINS"]);
                for provider in items(&providers) {
                    table.row(vec![
                        pick(provider, &["name"]).into(),
                        pick(provider, &["spec.host"]).into(),
                        pick(provider, &["spec.identityProvider.issuer"]).into(),
                        pick(provider, &["spec.userIDClaim"]).into(),
                        pick(provider, &["spec.allowedDomains"]).into(),
                    ]);
                }
                out.table(&table, "No identity providers. Apply one with `runagents identity-providers apply -f idp.yaml`.")
            })
        }
        Cmd::Get { name } => {
            let provider = api
                .get(&format!("/identity-providers/{}", segment(&name)))
                .await?;
            ctx.out.either(&provider, |out| {
                out.fields(&[
                    ("Name", Cell::plain(pick(&provider, &["name"]))),
                    ("Workspace", Cell::plain(pick(&provider, &["namespace"]))),
                    ("Host", Cell::plain(pick(&provider, &["spec.host"]))),
                    (
                        "Issuer",
                        Cell::plain(pick(&provider, &["spec.identityProvider.issuer"])),
                    ),
                    (
                        "JWKS URI",
                        Cell::plain(pick(&provider, &["spec.identityProvider.jwksUri"])),
                    ),
                    (
                        "Audiences",
                        Cell::plain(pick(&provider, &["spec.identityProvider.audiences"])),
                    ),
                    (
                        "User ID claim",
                        Cell::plain(pick(&provider, &["spec.userIDClaim"])),
                    ),
                    (
                        "Allowed domains",
                        Cell::plain(pick(&provider, &["spec.allowedDomains"])),
                    ),
                    ("Updated", out.time(&pick(&provider, &["updated_at"]))),
                ])
            })
        }
        Cmd::Apply { file, name } => {
            let document = input::read_document(&file)?;
            let (name, body) = identity_document(document, name.as_deref())
                .map_err(|error| Error::file(&file, error))?;
            let path = format!("/identity-providers/{}", segment(&name));
            // POST is an upsert; the GET only chooses the word.
            let verb = match api.get_optional(&path).await? {
                Some(_) => "updated",
                None => "created",
            };
            let provider = api.post("/identity-providers", body).await?;
            ctx.out.either(&provider, |out| {
                out.done(&format!("identity provider {name:?} {verb}"))
            })
        }
        Cmd::Delete { name } => {
            let answer = api
                .delete(&format!("/identity-providers/{}", segment(&name)))
                .await?;
            deleted(ctx, "identity provider", &name, &answer)
        }
    }
}

/// `(name, {name, spec})`, checking the fields the public CLI requires.
pub(crate) fn identity_document(
    document: Value,
    name_flag: Option<&str>,
) -> Result<(String, Value)> {
    if !document.is_object() {
        return Err(Error::invalid(
            "an identity provider must be a YAML or JSON object",
        ));
    }
    let name = match name_flag.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => name.to_owned(),
        None => required(&document, "name", "identity provider")
            .or_else(|_| required(&document, "metadata.name", "identity provider"))
            .map_err(|_| {
                Error::invalid(
                    "the identity provider needs a name: put `name:` in the file or pass --name",
                )
            })?
            .to_owned(),
    };
    for path in [
        "spec.host",
        "spec.identityProvider.issuer",
        "spec.identityProvider.jwksUri",
        "spec.userIDClaim",
    ] {
        required(&document, path, "identity provider")?;
    }
    Ok((
        name.clone(),
        json!({"name": name, "spec": document["spec"]}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_the_public_cli_fields() {
        let spec = json!({"host": "agents.example.com", "identityProvider": {"issuer": "https://accounts.google.com",
            "jwksUri": "https://www.googleapis.com/oauth2/v3/certs"}, "userIDClaim": "email"});
        let (name, body) =
            identity_document(json!({"name": "google", "spec": spec}), None).unwrap();
        assert_eq!(name, "google");
        assert_eq!(body, json!({"name": "google", "spec": spec}));
        let (name, _) = identity_document(json!({"spec": spec}), Some("named")).unwrap();
        assert_eq!(name, "named");
        let error = identity_document(json!({"spec": spec}), None).unwrap_err();
        assert!(error.to_string().contains("needs a name"), "{error}");
        let mut partial = spec;
        partial["identityProvider"]
            .as_object_mut()
            .unwrap()
            .remove("jwksUri");
        let error = identity_document(json!({"name": "g", "spec": partial}), None).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("spec.identityProvider.jwksUri is required"),
            "{error}"
        );
    }
}
