//! The HTTP API (axum): JSON under `/v1/…`, answered from this node's own replica.
