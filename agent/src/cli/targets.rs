//! `officemesh targets`: list (`GET /v1/targets`), set (`PUT /v1/targets/{room}`) or remove
//! (`DELETE /v1/targets/{room}`) a room's target band. Talks HTTP only through `crate::client`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::ClientArgs;
use crate::api_types::{TargetRow, TargetsAnswer};
use crate::client;

#[derive(Debug, Args)]
pub struct TargetsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub action: Option<TargetAction>,
}

#[derive(Debug, Subcommand)]
pub enum TargetAction {
    /// List target bands (the default).
    List,
    /// Set a room's target: `targets set "meeting room" temperature 22 --tolerance 1.5`.
    Set {
        room: String,
        quantity: String,
        value: f64,
        #[arg(long, default_value_t = 1.0)]
        tolerance: f64,
    },
    /// Remove a room's target: `targets remove kitchen` (every quantity) or
    /// `targets remove kitchen temperature`. An alert open for it is cleared.
    Remove {
        room: String,
        quantity: Option<String>,
    },
}

/// `{"room": …, "removed": [quantities]}` of `DELETE /v1/targets/{room}`.
#[derive(Debug, serde::Deserialize)]
struct Removed {
    room: String,
    removed: Vec<String>,
}

pub fn run(args: TargetsArgs) -> anyhow::Result<()> {
    let api = args.client.client()?;
    let rows = match args.action.unwrap_or(TargetAction::List) {
        TargetAction::List => {
            let answer = api.get("/v1/targets")?;
            match args.client.decode_unless_json::<TargetsAnswer>(answer)? {
                Some(answer) => answer.targets,
                None => return Ok(()),
            }
        }
        TargetAction::Set {
            room,
            quantity,
            value,
            tolerance,
        } => {
            let answer = api.put(
                &format!("/v1/targets/{}", client::path_segment(&room)),
                json!({ "quantity": quantity, "value": value, "tolerance": tolerance }),
            )?;
            match args.client.decode_unless_json::<TargetRow>(answer)? {
                Some(target) => vec![target],
                None => return Ok(()),
            }
        }
        TargetAction::Remove { room, quantity } => {
            let mut path = format!("/v1/targets/{}", client::path_segment(&room));
            if let Some(quantity) = quantity {
                path.push_str(&format!("?quantity={}", client::path_segment(&quantity)));
            }
            let answer = api.delete(&path)?;
            if let Some(removed) = args.client.decode_unless_json::<Removed>(answer)? {
                println!(
                    "removed the {} target of {}",
                    removed.removed.join(" and "),
                    removed.room
                );
            }
            return Ok(());
        }
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|target| {
            vec![
                target.room.clone(),
                target.quantity.to_string(),
                format!("{}", target.value),
                format!("±{}", target.tolerance),
            ]
        })
        .collect();
    print!(
        "{}",
        client::table(&["room", "quantity", "target", "tolerance"], &rows)
    );
    Ok(())
}
