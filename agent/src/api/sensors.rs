//! `GET /v1/sensors`: every configured sensor of this node with its status (`ok`/`failed`), the
//! error naming the device and the fix, the last good read and its values
//! (`sensor_health::SensorBoard`); plus `cluster`, the replicated state of every node's sensors,
//! so a failed sensor on another Pi shows too.
//!
//! Read-only; must not touch sensor drivers.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::handles::ApiState;
use crate::sensor_health::cluster_health;
use crate::shared::Shared;

/// The sensors route, merged into `api::router`.
pub fn routes() -> Router<ApiState> {
    Router::new().route("/v1/sensors", get(sensors))
}

async fn sensors(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let cluster = cluster_health(&shared.state.replica());
    Json(json!({
        "node": shared.name,
        "sensors": shared.telemetry.sensors.snapshot(),
        "cluster": cluster,
    }))
}
