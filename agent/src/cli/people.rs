//! `officemesh people`: list (`GET /v1/people`), add (`POST`) or remove (`DELETE`) people's
//! devices. Talks HTTP only through `crate::client`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::ClientArgs;
use crate::api_types::{PeopleAnswer, PersonChange};
use crate::client;

#[derive(Debug, Args)]
pub struct PeopleArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub action: Option<PeopleAction>,
}

#[derive(Debug, Subcommand)]
pub enum PeopleAction {
    /// List registered people and their MACs (the default).
    List,
    /// Register a device as someone's: `people add "Ada Lovelace" aa:bb:cc:dd:ee:ff`.
    Add { name: String, mac: String },
    /// Forget one of someone's devices.
    Remove { name: String, mac: String },
}

pub fn run(args: PeopleArgs) -> anyhow::Result<()> {
    let api = args.client.client()?;
    match args.action.unwrap_or(PeopleAction::List) {
        PeopleAction::List => {
            let answer = api.get("/v1/people")?;
            if let Some(answer) = args.client.decode_unless_json::<PeopleAnswer>(answer)? {
                print_people(&answer);
            }
        }
        PeopleAction::Add { name, mac } => {
            let answer = api.post(
                "/v1/people",
                json!({ "name": name, "mac": mac, "added_by": "cli" }),
            )?;
            if let Some(change) = args.client.decode_unless_json::<PersonChange>(answer)? {
                if change.created == Some(false) {
                    println!("{} was already registered to {}", change.mac, change.name);
                } else {
                    println!("registered {} to {}", change.mac, change.name);
                }
            }
        }
        PeopleAction::Remove { name, mac } => {
            let answer = api.delete(&format!(
                "/v1/people/{}/{}",
                client::path_segment(&name),
                client::path_segment(&mac)
            ))?;
            if let Some(change) = args.client.decode_unless_json::<PersonChange>(answer)? {
                println!("removed {} from {}", change.mac, change.name);
            }
        }
    }
    Ok(())
}

fn print_people(answer: &PeopleAnswer) {
    let rows: Vec<Vec<String>> = answer
        .people
        .iter()
        .map(|person| {
            let macs: Vec<String> = person.macs.iter().map(ToString::to_string).collect();
            vec![person.name.clone(), macs.join(", ")]
        })
        .collect();
    print!("{}", client::table(&["name", "macs"], &rows));
}
