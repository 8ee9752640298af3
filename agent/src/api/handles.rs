//! `ApiState`: the router's state, the agent's `Shared`, from which each handler extracts only
//! the handles it uses (`State<Arc<StateHandle>>`, `State<Arc<MeshView>>`,
//! `State<Arc<Telemetry>>`, `State<Arc<PresenceState>>`, `State<Arc<Config>>`); a handler that
//! needs the node's identity (or hands over to chat) takes `State<Arc<Shared>>`.
//! Must not touch: anything; it only hands out handles.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::config::Config;
use crate::shared::{MeshView, PresenceState, Shared, StateHandle, Telemetry};

/// The agent's `Shared`, as the API router's state.
#[derive(Clone)]
pub struct ApiState(pub Arc<Shared>);

impl FromRef<ApiState> for Arc<Shared> {
    fn from_ref(api: &ApiState) -> Self {
        api.0.clone()
    }
}

impl FromRef<ApiState> for Arc<StateHandle> {
    fn from_ref(api: &ApiState) -> Self {
        api.0.state.clone()
    }
}

impl FromRef<ApiState> for Arc<MeshView> {
    fn from_ref(api: &ApiState) -> Self {
        api.0.mesh.clone()
    }
}

impl FromRef<ApiState> for Arc<Telemetry> {
    fn from_ref(api: &ApiState) -> Self {
        api.0.telemetry.clone()
    }
}

impl FromRef<ApiState> for Arc<PresenceState> {
    fn from_ref(api: &ApiState) -> Self {
        api.0.presence.clone()
    }
}

impl FromRef<ApiState> for Arc<Config> {
    fn from_ref(api: &ApiState) -> Self {
        api.0.config.clone()
    }
}
