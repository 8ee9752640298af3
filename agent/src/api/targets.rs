//! `/v1/targets`: list room target bands, set one (`PUT /v1/targets/{room}`), remove one
//! quantity's or all of a room's (`DELETE /v1/targets/{room}[?quantity=…]`, through
//! `crate::targets::remove`, which chat calls too). Parses requests and renders answers only.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, put};
use axum::{Json, Router};
use officemesh_sensors::Quantity;
use serde::Deserialize;
use serde_json::json;

use super::handles::ApiState;
use super::{authorize, parse_label, ApiError, ApiResult};
use crate::config::Config;
use crate::shared::StateHandle;
use crate::state::{Key, TargetValue, Value};

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/targets", get(targets))
        .route("/v1/targets/{room}", put(set_target).delete(remove_target))
}

fn parse_quantity(text: &str) -> ApiResult<Quantity> {
    Quantity::parse(text).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown quantity '{text}' (use temperature, humidity or sound)"
        ))
    })
}

/// Body of `PUT /v1/targets/{room}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetTarget {
    quantity: String,
    value: f64,
    #[serde(default = "default_tolerance")]
    tolerance: f64,
}

fn default_tolerance() -> f64 {
    1.0
}

async fn set_target(
    State(config): State<Arc<Config>>,
    State(state): State<Arc<StateHandle>>,
    headers: HeaderMap,
    Path(room): Path<String>,
    body: Result<Json<SetTarget>, JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&config, &headers)?;
    let Json(body) = body?;
    let room = parse_label("room", &room)?;
    let quantity = parse_quantity(&body.quantity)?;
    let value = Value::Target(TargetValue {
        value: body.value,
        tolerance: body.tolerance,
    });
    state
        .write_durable(
            Key::Target {
                room: room.clone(),
                quantity,
            },
            Some(value),
        )
        .await?;
    Ok(Json(json!({
        "room": room,
        "quantity": quantity,
        "value": body.value,
        "tolerance": body.tolerance,
    })))
}

async fn targets(State(state): State<Arc<StateHandle>>) -> Json<serde_json::Value> {
    let rows: Vec<serde_json::Value> = state
        .replica()
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Target { room, quantity }, Value::Target(target)) => Some(json!({
                "room": room,
                "quantity": quantity,
                "value": target.value,
                "tolerance": target.tolerance,
            })),
            _ => None,
        })
        .collect();
    Json(json!({ "targets": rows }))
}

/// Query of `DELETE /v1/targets/{room}`: one quantity, or every quantity when absent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveTarget {
    quantity: Option<String>,
}

async fn remove_target(
    State(config): State<Arc<Config>>,
    State(state): State<Arc<StateHandle>>,
    headers: HeaderMap,
    Path(room): Path<String>,
    query: Result<Query<RemoveTarget>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&config, &headers)?;
    let Query(query) = query?;
    let room = parse_label("room", &room)?;
    let quantity = query.quantity.as_deref().map(parse_quantity).transpose()?;
    let removed = crate::targets::remove(&state, &room, quantity).await?;
    if removed.is_empty() {
        let what = quantity.map_or(String::new(), |q| format!("{} ", q.as_str()));
        return Err(ApiError::NotFound(format!(
            "'{room}' has no {what}target (GET /v1/targets lists them)"
        )));
    }
    Ok(Json(json!({ "room": room, "removed": removed })))
}
