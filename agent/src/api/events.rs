//! `GET /v1/events?since=<ms>&kind=<kind>`: this node's mesh event log (`events::EventLog`),
//! oldest first — peers turning suspect, dead and alive again with their downtime, catch-ups,
//! heals, resets, refused peers, clock-ahead entries, large deltas.
//!
//! Read-only. Reads node names from the replica (a peer may be named only after the event
//! was recorded); must not touch the gossip core.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::handles::ApiState;
use super::ApiResult;
use crate::clock::wall_ms;
use crate::shared::Shared;

/// The event route, merged into `api::router`.
pub fn routes() -> Router<ApiState> {
    Router::new().route("/v1/events", get(events))
}

/// Query string of `GET /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// Only events at or after this time (ms since the Unix epoch); default: all held.
    since: Option<u64>,
    /// Only events of this kind (`peer_dead`, `peer_alive`, …).
    kind: Option<String>,
}

async fn events(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(params) = query?;
    let mut events = shared.mesh.events.since(params.since.unwrap_or(0));
    if let Some(kind) = params.kind.as_deref() {
        events.retain(|e| e.kind.as_str() == kind);
    }
    // A peer that joined before its `node/<id>` entry arrived was recorded under its id: name
    // it now if this node has learned the name since.
    let names = crate::state::query::node_names(&shared.state.replica());
    for event in &mut events {
        if let Some(peer) = event.peer {
            let unnamed = event
                .peer_name
                .as_deref()
                .is_none_or(|name| name == peer.to_string());
            if unnamed {
                if let Some((name, _)) = names.get(&peer) {
                    event.peer_name = Some(name.clone());
                }
            }
        }
    }
    Ok(Json(json!({
        "node": shared.node,
        "name": shared.name,
        "now_ms": wall_ms(),
        "events": events,
    })))
}
