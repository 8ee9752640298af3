//! `officemesh status`: mesh health, every node and what this agent may be missing
//! (`GET /v1/nodes`), as a table. Talks HTTP only through `crate::client`.

use super::{print_note, ClientArgs};
use crate::api_types::{NodeRow, NodesAnswer};
use crate::client;

pub fn run(args: &ClientArgs) -> anyhow::Result<()> {
    let answer = args.client()?.get("/v1/nodes")?;
    let Some(answer) = args.decode_unless_json::<NodesAnswer>(answer)? else {
        return Ok(());
    };
    let rows: Vec<Vec<String>> = answer.nodes.iter().map(node_row).collect();
    print!(
        "{}",
        client::table(
            &[
                "name",
                "room",
                "status",
                "gossip",
                "heartbeat",
                "phi",
                "missing",
                "version"
            ],
            &rows
        )
    );
    print_note(&answer.completeness);
    Ok(())
}

fn node_row(node: &NodeRow) -> Vec<String> {
    vec![
        node.name.clone(),
        node.room.clone(),
        match node.clock_ahead_ms {
            Some(ahead) => format!(
                "{} (clock {} ahead)",
                node.status,
                crate::state::query::duration_words(ahead)
            ),
            None => node.status.to_string(),
        },
        node.gossip_addr.clone(),
        node.heartbeat_age_ms
            .map(client::age)
            .unwrap_or_else(|| "-".into()),
        node.phi
            .map(|phi| format!("{phi:.1}"))
            .unwrap_or_else(|| "-".into()),
        node.missing_versions.to_string(),
        node.version.clone(),
    ]
}
