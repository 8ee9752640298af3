//! Claim by possession: `POST /v1/claims` (and "i am <mac>" in chat) issues a one-time link,
//! `GET /claim/{code}` redeems it. The link registers the MAC only when it is opened from that
//! device: the request's source IP is mapped to a MAC through this node's kernel neighbour table
//! and its own LAN sightings, and anything else is refused with a plain-text 4xx that says why.
//!
//! Must not touch: SQLite (writes go through `StateHandle::write_durable`), the scanner.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use officemesh_sensors::MacAddr;
use serde::Deserialize;
use serde_json::json;

use super::handles::ApiState;
use super::{parse_label, parse_mac, ApiResult};
use crate::claims::CLAIM_TTL_MS;
use crate::clock::wall_ms;
use crate::shared::Shared;
use crate::state::{Key, PersonInfo, Value};

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/claims", post(issue))
        .route("/claim/{code}", get(redeem))
}

/// Body of `POST /v1/claims`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimRequest {
    name: String,
    mac: String,
}

async fn issue(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<ClaimRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let Json(body) = body?;
    let name = parse_label("name", &body.name)?;
    let mac = parse_mac(&body.mac)?;
    let now = wall_ms();
    let link = shared
        .presence
        .claims
        .link(&shared.api_public_addr(), &name, mac, now);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "name": name,
            "link": link,
            "expires_ms": now + CLAIM_TTL_MS,
        })),
    ))
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body + "\n",
    )
        .into_response()
}

/// The MAC of the device at `ip`, as this node sees the LAN: its kernel neighbour table first
/// (the device just talked to us), then its own scan sightings.
fn mac_of(shared: &Shared, ip: IpAddr) -> Option<MacAddr> {
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    match officemesh_sensors::presence::neighbor_table() {
        Ok(table) => {
            if let Some(found) = table.iter().find(|neighbor| neighbor.ip == ip) {
                return Some(found.mac);
            }
        }
        Err(err) => tracing::warn!(error = %err, "claim: neighbour table unreadable"),
    }
    shared.presence.sightings.mac_of_ip(ip)
}

/// The refusal for a link opened from a device other than the one named: which address this
/// device uses on this network (shown only to the device itself), so the person can claim it.
fn other_device(seen: MacAddr) -> String {
    let private = if seen.is_locally_administered() {
        " (a private Wi-Fi address, the one this phone chose for this network)"
    } else {
        ""
    };
    format!(
        "This link only works when opened from the device it was made for, and this is a different device: this device uses {seen} on this network{private}. If this is the phone you meant, say \"i am {seen}\" to the bot for a new link. Nothing was registered."
    )
}

async fn redeem(
    State(shared): State<Arc<Shared>>,
    Path(code): Path<String>,
    request: Request,
) -> Response {
    let now = wall_ms();
    let Some(claim) = shared.presence.claims.peek(&code, now) else {
        return text(
            StatusCode::NOT_FOUND,
            "This claim link is unknown, already used, or expired (links work once, for 10 minutes). Say \"i am <your MAC>\" to the bot again for a new one.".into(),
        );
    };
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let Some(source) = source else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "This agent cannot see the address of the request, so it cannot check the device."
                .into(),
        );
    };
    let Some(seen) = mac_of(&shared, source) else {
        return text(
            StatusCode::FORBIDDEN,
            format!("I can't see which device {source} is on the office network, so I can't check this is the device being claimed. Open the link from the phone itself, connected to the office Wi-Fi. Nothing was registered."),
        );
    };
    if seen != claim.mac {
        tracing::info!(person = %claim.person, "claim refused: opened from another device");
        return text(StatusCode::FORBIDDEN, other_device(seen));
    }
    let key = Key::Person {
        name: claim.person.clone(),
        mac: claim.mac,
    };
    let value = Value::Person(PersonInfo {
        added_by: claim.by.clone(),
    });
    if let Err(err) = shared.state.write_durable(key, Some(value)).await {
        let status = if err.is_disk_full() {
            StatusCode::INSUFFICIENT_STORAGE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        return text(
            status,
            format!("Could not save the registration ({err}); open the link again."),
        );
    }
    shared.presence.claims.consume(&code);
    text(
        StatusCode::OK,
        format!(
            "Done: this device ({}) is now registered to {}. The office will count you in while it is on the Wi-Fi; say \"forget me\" to the bot to undo it.",
            claim.mac, claim.person
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_the_address_this_device_uses_here() {
        let private: MacAddr = "5a:3f:00:11:22:12".parse().expect("mac");
        let text = other_device(private);
        assert!(
            text.contains(
                "this device uses 5a:3f:00:11:22:12 on this network (a private Wi-Fi address"
            ),
            "{text}"
        );
        assert!(text.contains("\"i am 5a:3f:00:11:22:12\""), "{text}");
        let vendor: MacAddr = "00:16:3e:00:00:01".parse().expect("mac");
        assert!(!other_device(vendor).contains("private"));
    }
}
