//! The HTTP API (axum): JSON under `/v1/…`, answered from this node's own replica, each answer
//! saying how complete it is. Writes need `Authorization: Bearer <api.token>` when a token is
//! configured, and are acknowledged only after they are committed to SQLite.
//! Bad input is a 4xx whose message says what is wrong (`error::ApiError`).
//!
//! Routes are listed in `router`; every endpoint is documented with an example in `docs/api.md`.
//! This module parses requests and renders answers; the answers themselves come from
//! `state::query`, and writes go through `StateHandle::write_durable` (which checks every limit).
//! Who may call what is `access`; connection limits are `serve`. Handlers extract only the
//! handles they use from the router's state (`handles::ApiState`).

mod access;
mod chat;
mod claim;
mod dashboard;
mod error;
mod events;
mod handles;
pub mod metrics;
mod sensors;
mod serve;
mod targets;

#[cfg(test)]
mod docs_tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use officemesh_sensors::{MacAddr, Quantity};
use serde::Deserialize;
use serde_json::json;

pub use error::ApiError;

use crate::api_types::{NodeRow, NodesAnswer};
use crate::clock::wall_ms;
use crate::config::Config;
use crate::crdt::NodeId;
use crate::peer::{NodeStatus, PeerStatus};
use crate::shared::{MeshView, PresenceState, Shared, StateHandle};
use crate::state::key::{normalize_label, validate_label};
use crate::state::limits::check_device_mac;
use crate::state::query::{self, ReadingFilter};
use crate::state::{Key, NodeInfo, PersonInfo, Replica, Value};
use handles::ApiState;

type ApiResult<T> = Result<T, ApiError>;

/// Warnings any LAN client could repeat (refused chat requests, failed writes), summarized per
/// minute so they cannot fill the card.
fn warnings() -> &'static crate::log_summary::LogSummary {
    static WARNINGS: std::sync::OnceLock<crate::log_summary::LogSummary> =
        std::sync::OnceLock::new();
    WARNINGS.get_or_init(Default::default)
}

/// Request bodies of the JSON endpoints are at most this long (a person or a target is a few
/// hundred bytes).
pub const JSON_BODY_LIMIT: usize = 16 * 1024;
/// Chat bodies (Slack and Mattermost forms carry extra fields) are at most this long.
pub const CHAT_BODY_LIMIT: usize = 64 * 1024;

/// The API's routes over the agent's shared state.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/presence", get(presence))
        .route("/v1/readings", get(readings))
        .route("/v1/readings/history", get(history))
        .route("/v1/network", get(network))
        .route("/v1/nodes", get(nodes))
        .route("/v1/state/hash", get(state_hash))
        .route("/v1/people", get(people).post(add_person))
        .route("/v1/people/{name}/{mac}", delete(remove_person))
        .merge(metrics::routes())
        .merge(chat::routes().layer(DefaultBodyLimit::max(CHAT_BODY_LIMIT)))
        .merge(claim::routes())
        .merge(events::routes())
        .merge(sensors::routes())
        .merge(dashboard::routes())
        .merge(access::routes())
        .merge(targets::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            ApiState(shared.clone()),
            access::guard,
        ))
        .layer(middleware::from_fn(request_timeout))
        .with_state(ApiState(shared))
}

/// Serves the API on `listener` until `shutdown` resolves, with the connection limits of
/// `serve` (head timeout, connection cap, request timeout).
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve::serve_with_limits(listener, router(shared), shutdown).await
}

/// Answers 408 when a request (its body included) takes longer than `serve::REQUEST_TIMEOUT`.
async fn request_timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(serve::REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            Json(json!({ "error": "the request took too long to arrive; closed" })),
        )
            .into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see docs/api.md".into())
}

/// Checks the bearer token, when one is configured: for writes, and for reads of personal data
/// (`/v1/network`: MACs and addresses).
fn authorize(config: &Config, headers: &HeaderMap) -> ApiResult<()> {
    let token = &config.api.token;
    if token.is_empty() || access::has_token(token, headers) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let entries = shared.state.replica().len();
    Json(json!({
        "status": "ok",
        "node": shared.node,
        "name": shared.name,
        "room": shared.config.node.room,
        "version": crate::VERSION,
        "protocols": crate::net::hello::protocols(),
        "entries": entries,
        "uptime_s": wall_ms().saturating_sub(shared.started_at_ms) / 1000,
        "wall_clock": crate::clock::wall_clock_status(),
    }))
}

async fn presence(
    State(state): State<Arc<StateHandle>>,
    State(mesh): State<Arc<MeshView>>,
    State(presence): State<Arc<PresenceState>>,
) -> Json<query::PresenceAnswer> {
    let completeness = mesh.completeness();
    let answer = query::presence(
        &state.replica(),
        wall_ms(),
        presence.consider_home_ms(),
        completeness,
    );
    Json(answer)
}

/// Query string of `GET /v1/readings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadingsQuery {
    room: Option<String>,
    quantity: Option<String>,
    node: Option<String>,
}

async fn readings(
    State(state): State<Arc<StateHandle>>,
    State(mesh): State<Arc<MeshView>>,
    query: Result<Query<ReadingsQuery>, QueryRejection>,
) -> ApiResult<Json<query::ReadingsAnswer>> {
    let Query(params) = query?;
    let quantity = match params.quantity {
        Some(text) => Some(Quantity::parse(&text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown quantity '{text}' (use temperature, humidity or sound)"
            ))
        })?),
        None => None,
    };
    let node = match params.node {
        Some(text) => Some(
            text.parse()
                .map_err(|e| ApiError::BadRequest(format!("{e}")))?,
        ),
        None => None,
    };
    let filter = ReadingFilter {
        room: params.room,
        quantity,
        node,
    };
    let completeness = mesh.completeness();
    Ok(Json(query::readings(
        &state.replica(),
        wall_ms(),
        &filter,
        completeness,
    )))
}

/// Query string of `GET /v1/readings/history`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryParams {
    /// Node id (16 hex digits) or node name.
    node: String,
    quantity: String,
    /// Default: the node's only sensor measuring `quantity`.
    sensor: Option<String>,
    /// Milliseconds since the epoch; default `to` − 24 h.
    from: Option<u64>,
    /// Default: now.
    to: Option<u64>,
    /// Bucket length in ms; default 5 minutes.
    step: Option<u64>,
}

/// The most buckets one history answer may have (keeps answers small on a Pi).
const MAX_HISTORY_BUCKETS: u64 = 10_000;
/// The largest `from`, `to` and `step` (ms): year 9999, far below SQLite's integer range.
const MAX_HISTORY_MS: u64 = 253_402_300_799_999;

async fn history(
    State(state): State<Arc<StateHandle>>,
    query: Result<Query<HistoryParams>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(params) = query?;
    let quantity = Quantity::parse(&params.quantity).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown quantity '{}' (use temperature, humidity or sound)",
            params.quantity
        ))
    })?;
    let (node, sensor) = {
        let replica = state.replica();
        let node = node_by_id_or_name(&replica, &params.node)?;
        let sensor = match params.sensor {
            Some(sensor) => sensor,
            None => only_sensor(&replica, node, quantity, &params.node)?,
        };
        (node, sensor)
    };
    let (from_ms, to_ms, step_ms) = history_window(params.from, params.to, params.step)?;
    let points = state
        .history(crate::store::HistoryQuery {
            node,
            sensor: sensor.clone(),
            quantity,
            from_ms,
            to_ms,
            step_ms,
        })
        .await
        .map_err(|e| match e {
            crate::store::StoreError::InvalidQuery { detail, .. } => ApiError::BadRequest(detail),
            other => ApiError::Internal(other.to_string()),
        })?;
    Ok(Json(json!({
        "node": node,
        "sensor": sensor,
        "quantity": quantity,
        "unit": quantity.unit(),
        "from_ms": from_ms,
        "to_ms": to_ms,
        "step_ms": step_ms,
        "points": points,
    })))
}

/// A node given by its id or by its name.
fn node_by_id_or_name(replica: &Replica, text: &str) -> ApiResult<NodeId> {
    if let Ok(id) = text.parse::<NodeId>() {
        return Ok(id);
    }
    query::node_names(replica)
        .iter()
        .find(|(_, (name, _))| name == text)
        .map(|(id, _)| *id)
        .ok_or_else(|| ApiError::NotFound(format!("no node named '{text}'")))
}

/// The one sensor of `node` measuring `quantity` (when `sensor=` was not given).
fn only_sensor(
    replica: &Replica,
    node: NodeId,
    quantity: Quantity,
    node_text: &str,
) -> ApiResult<String> {
    let sensors: Vec<String> = replica
        .live()
        .filter_map(|(key, _)| match key {
            Key::Reading {
                node: n,
                sensor,
                quantity: q,
            } if *n == node && *q == quantity => Some(sensor.clone()),
            _ => None,
        })
        .collect();
    match sensors.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(ApiError::NotFound(format!(
            "node '{node_text}' has no {quantity} sensor"
        ))),
        many => Err(ApiError::BadRequest(format!(
            "node '{node_text}' has several {quantity} sensors ({}); add sensor=",
            many.join(", ")
        ))),
    }
}

/// `from`, `to` and `step` with their defaults (the last 24 h in 5-minute buckets), checked.
fn history_window(
    from: Option<u64>,
    to: Option<u64>,
    step: Option<u64>,
) -> ApiResult<(u64, u64, u64)> {
    let to_ms = to.unwrap_or_else(wall_ms);
    let from_ms = from.unwrap_or(to_ms.saturating_sub(24 * 3600 * 1000));
    let step_ms = step.unwrap_or(5 * 60 * 1000);
    if step_ms == 0 || from_ms >= to_ms {
        return Err(ApiError::BadRequest(
            "need from < to and step > 0 (milliseconds)".into(),
        ));
    }
    if [from_ms, to_ms, step_ms]
        .iter()
        .any(|v| *v > MAX_HISTORY_MS)
    {
        return Err(ApiError::BadRequest(format!(
            "from, to and step must be at most {MAX_HISTORY_MS} (milliseconds)"
        )));
    }
    if (to_ms - from_ms) / step_ms > MAX_HISTORY_BUCKETS {
        return Err(ApiError::BadRequest(format!(
            "too many buckets: (to - from) / step must be at most {MAX_HISTORY_BUCKETS}"
        )));
    }
    Ok((from_ms, to_ms, step_ms))
}

/// This node's own sightings and the registered devices every node saw; needs the token (MACs
/// and addresses are personal data).
async fn network(
    State(config): State<Arc<Config>>,
    State(state): State<Arc<StateHandle>>,
    State(mesh): State<Arc<MeshView>>,
    State(presence): State<Arc<PresenceState>>,
    headers: HeaderMap,
) -> ApiResult<Json<query::NetworkAnswer>> {
    authorize(&config, &headers)?;
    let completeness = mesh.completeness();
    let own = presence.sightings.snapshot();
    Ok(Json(query::network(
        &state.replica(),
        &own,
        wall_ms(),
        presence.consider_home_ms(),
        completeness,
    )))
}

/// Every node with a `node/<id>` entry, then peers gossip knows that have none yet (their
/// entry may be held back: a clock running ahead).
async fn nodes(State(shared): State<Arc<Shared>>) -> Json<NodesAnswer> {
    let peers = shared.mesh.peers();
    let rows: Vec<NodeRow> = {
        let replica = shared.state.replica();
        // One pass over the replica: what each node says of itself, and its connected chats.
        let mut infos: Vec<(NodeId, NodeInfo)> = Vec::new();
        let mut chats: BTreeMap<NodeId, Vec<String>> = BTreeMap::new();
        for (key, value) in replica.live() {
            match (key, value) {
                (Key::Node(id), Value::Node(info)) => infos.push((*id, info.clone())),
                (Key::ChatAdapter { node, platform }, Value::ChatAdapter(state))
                    if state.connected =>
                {
                    chats.entry(*node).or_default().push(platform.clone());
                }
                _ => {}
            }
        }
        for peer in &peers {
            if !infos.iter().any(|(id, _)| *id == peer.node) {
                let info = NodeInfo {
                    name: peer.name.clone(),
                    room: peer.room.clone(),
                    gossip_addr: peer.gossip_addr.clone(),
                    api_addr: String::new(),
                    version: String::new(),
                    started_at_ms: 0,
                };
                infos.push((peer.node, info));
            }
        }
        infos
            .into_iter()
            .map(|(id, info)| {
                let chat = chats.remove(&id).unwrap_or_default();
                node_row(&shared, &peers, &replica, (id, info), chat)
            })
            .collect()
    };
    Json(NodesAnswer {
        self_node: shared.node,
        nodes: rows,
        completeness: shared.mesh.completeness(),
    })
}

/// One row of `GET /v1/nodes`: what `id` says of itself (`info`), gossip's view of it, and
/// `chat`, the chat platforms its announced adapter is connected to.
fn node_row(
    shared: &Shared,
    peers: &[PeerStatus],
    replica: &Replica,
    (id, info): (NodeId, NodeInfo),
    chat: Vec<String>,
) -> NodeRow {
    let peer = peers.iter().find(|p| p.node == id);
    // On its own row: what this node says of its own clock.
    let (clock_ahead_ms, clock_offset_ms) = match peer {
        _ if id == shared.node => (
            shared.mesh.own_clock_ahead(),
            shared.mesh.own_clock_offset(),
        ),
        Some(p) => (p.clock_ahead_ms, p.clock_offset_ms),
        None => (None, None),
    };
    NodeRow {
        node: id,
        name: info.name,
        room: info.room,
        gossip_addr: info.gossip_addr,
        api_addr: info.api_addr,
        version: info.version,
        status: if id == shared.node {
            NodeStatus::This
        } else {
            peer.map_or(NodeStatus::Unknown, |p| p.status.into())
        },
        heartbeat_age_ms: peer.and_then(|p| p.heartbeat_age_ms),
        phi: peer.and_then(|p| p.phi),
        missing_versions: peer.map(|p| p.missing_versions).unwrap_or(0),
        unreachable_since_ms: peer.and_then(|p| p.unreachable_since_ms),
        clock_ahead_ms,
        clock_offset_ms,
        watermark: replica.watermark(id),
        chat,
    }
}

async fn state_hash(State(state): State<Arc<StateHandle>>) -> Json<serde_json::Value> {
    let replica = state.replica();
    Json(json!({
        "hash": replica.state_hash().to_hex(),
        "hash_by_protocol": hash_by_protocol(&replica),
        "entries": replica.len(),
        "digest": replica
            .digest()
            .iter()
            .map(|(origin, version)| (origin.to_string(), *version))
            .collect::<std::collections::BTreeMap<_, _>>(),
    }))
}

/// The state hash as a peer speaking each protocol this build speaks computes it over what it
/// can hold (`"1"`: without the kinds withheld from the release before versioning), so a
/// rolling upgrade's gate compares old and new nodes at the lowest protocol among them.
fn hash_by_protocol(replica: &crate::state::Replica) -> std::collections::BTreeMap<String, String> {
    let oldest = crate::net::hello::OLDEST_PROTOCOL;
    let newest = crate::net::hello::PROTOCOL;
    (oldest..=newest)
        .filter_map(|protocol| u8::try_from(protocol).ok())
        .map(|protocol| {
            (
                protocol.to_string(),
                replica.state_hash_for(protocol).to_hex(),
            )
        })
        .collect()
}

async fn people(State(state): State<Arc<StateHandle>>) -> Json<serde_json::Value> {
    let rows = query::people(&state.replica());
    Json(json!({ "people": rows }))
}

/// Body of `POST /v1/people`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddPerson {
    name: String,
    mac: String,
    /// Who registers it (chat user name, `cli`); default `api`.
    #[serde(default)]
    added_by: Option<String>,
}

fn parse_mac(text: &str) -> ApiResult<MacAddr> {
    let mac: MacAddr = text
        .trim()
        .parse()
        .map_err(|e: officemesh_sensors::MacParseError| ApiError::BadRequest(e.to_string()))?;
    check_device_mac(mac).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(mac)
}

/// A name as the state keeps it: normalized (`normalize_label`), then checked.
fn parse_label(what: &'static str, text: &str) -> ApiResult<String> {
    let normalized = normalize_label(text);
    validate_label(what, &normalized).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(normalized)
}

async fn add_person(
    State(config): State<Arc<Config>>,
    State(state): State<Arc<StateHandle>>,
    headers: HeaderMap,
    body: Result<Json<AddPerson>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    authorize(&config, &headers)?;
    let Json(body) = body?;
    let name = parse_label("name", &body.name)?;
    let mac = parse_mac(&body.mac)?;
    let key = Key::Person {
        name: name.clone(),
        mac,
    };
    if state.replica().value(&key).is_some() {
        // Registering twice is not an error: the answer says it was already there.
        return Ok((
            StatusCode::OK,
            Json(json!({ "name": name, "mac": mac, "created": false })),
        ));
    }
    let value = Value::Person(PersonInfo {
        added_by: body.added_by.unwrap_or_else(|| "api".into()),
    });
    state.write_durable(key, Some(value)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": name, "mac": mac, "created": true })),
    ))
}

async fn remove_person(
    State(config): State<Arc<Config>>,
    State(state): State<Arc<StateHandle>>,
    headers: HeaderMap,
    Path((name, mac)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&config, &headers)?;
    let name = parse_label("name", &name)?;
    let mac = parse_mac(&mac)?;
    let key = Key::Person {
        name: name.clone(),
        mac,
    };
    if state.replica().value(&key).is_none() {
        return Err(ApiError::NotFound(format!(
            "{mac} is not registered to '{name}'"
        )));
    }
    state.write_durable(key, None).await?;
    Ok(Json(json!({ "name": name, "mac": mac, "removed": true })))
}
