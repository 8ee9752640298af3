//! `officemesh events`: what this agent saw happen to the mesh (`GET /v1/events`), optionally
//! recent ones or one kind, as a table. Talks HTTP only through `crate::client`.

use clap::Args;

use super::{now_ms, with_query, ClientArgs};
use crate::api_types::{EventRow, EventsAnswer};
use crate::client;

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Only events in the last this many seconds.
    #[arg(long)]
    pub last: Option<u64>,
    /// Only events of this kind (peer_dead, peer_alive, mesh_healed, …).
    #[arg(long)]
    pub kind: Option<String>,
}

pub fn run(args: &EventsArgs) -> anyhow::Result<()> {
    let mut params = Vec::new();
    if let Some(last) = args.last {
        params.push(format!(
            "since={}",
            now_ms().saturating_sub(last.saturating_mul(1000))
        ));
    }
    if let Some(kind) = &args.kind {
        params.push(format!("kind={}", client::path_segment(kind)));
    }
    let answer = args
        .client
        .client()?
        .get(&with_query("/v1/events", &params))?;
    let Some(answer) = args.client.decode_unless_json::<EventsAnswer>(answer)? else {
        return Ok(());
    };
    let now = now_ms();
    let rows: Vec<Vec<String>> = answer
        .events
        .iter()
        .map(|event| event_row(event, now))
        .collect();
    if rows.is_empty() {
        println!("No mesh events recorded.");
    } else {
        print!(
            "{}",
            client::table(&["ago", "kind", "peer", "numbers", "detail"], &rows)
        );
    }
    Ok(())
}

fn event_row(event: &EventRow, now_ms: u64) -> Vec<String> {
    let numbers: Vec<String> = event
        .numbers
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    vec![
        client::age(now_ms.saturating_sub(event.t_ms)),
        event.kind.clone(),
        event.peer_name.clone().unwrap_or_default(),
        numbers.join(" "),
        event.detail.clone(),
    ]
}
