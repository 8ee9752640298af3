//! `officemesh status`: mesh health, every node and what this agent may be missing
//! (`GET /v1/nodes`), as a table; its `clock` column is each clock's measured offset (this
//! node's against the mesh's median, a peer's against this node's); its `chat` column, the chat
//! platforms each node's adapter announced as connected. Talks HTTP only through
//! `crate::client`.

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
                "clock",
                "version",
                "chat"
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
        node.clock_offset_ms
            .map(offset_words)
            .unwrap_or_else(|| "-".into()),
        node.version.clone(),
        if node.chat.is_empty() {
            "-".into()
        } else {
            node.chat.join(",")
        },
    ]
}

/// A measured clock offset as words: "58 min ahead", "12 ms behind", "0 ms".
fn offset_words(offset_ms: i64) -> String {
    let words = crate::state::query::duration_words(offset_ms.unsigned_abs());
    match offset_ms {
        0 => words,
        ahead if ahead > 0 => format!("{words} ahead"),
        _ => format!("{words} behind"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_column_says_ahead_or_behind_and_dash_until_measured() {
        let row: NodeRow = serde_json::from_value(serde_json::json!({
            "node": "14082b5b47bacf03", "name": "pi-4", "room": "lab",
            "gossip_addr": "10.0.0.4:7420", "api_addr": "10.0.0.4:8420", "version": "0.1.0",
            "status": "alive", "heartbeat_age_ms": 200, "phi": 0.4, "missing_versions": 0,
            "unreachable_since_ms": null, "clock_ahead_ms": null,
            "clock_offset_ms": 3_480_012, "watermark": 7
        }))
        .expect("a /v1/nodes row");
        assert_eq!(node_row(&row)[7], "58 min ahead");
        let behind = NodeRow {
            clock_offset_ms: Some(-12),
            ..row.clone()
        };
        assert_eq!(node_row(&behind)[7], "12 ms behind");
        let unmeasured = NodeRow {
            clock_offset_ms: None,
            ..row
        };
        assert_eq!(node_row(&unmeasured)[7], "-");
        assert_eq!(node_row(&unmeasured)[9], "-", "no chat adapter announced");
        let answering = NodeRow {
            chat: vec!["slack".into(), "matrix".into()],
            ..unmeasured
        };
        assert_eq!(node_row(&answering)[9], "slack,matrix");
    }
}
