//! `GET /metrics`: the agent's state and counters in the Prometheus text exposition format
//! 0.0.4, hand-written (no metrics crate): `Exposition` renders families with escaped labels,
//! the counters it exports live in `crate::counters` (the loops increment them).
//!
//! Gauges about the replicated state (readings, people, entries, peers) are computed from
//! `Shared` at scrape time, never stored. This module only reads the replica; it never writes
//! state, and it knows nothing of how gossip or MQTT work — they fill `Counters`.
//! Every metric name is listed in `docs/mqtt.md` (section "Prometheus metrics").

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::handles::ApiState;
use crate::clock::wall_ms;
use crate::counters::Counters;
use crate::peer::{MemberStatus, PeerStatus};
use crate::shared::Shared;
use crate::state::query::{self, Completeness};

/// The exposition format's content type.
pub const CONTENT_TYPE_0_0_4: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric family name the agent exports (the Grafana dashboard test checks against it).
pub const METRIC_NAMES: &[&str] = &[
    "officemesh_build_info",
    "officemesh_uptime_seconds",
    "officemesh_reading",
    "officemesh_reading_age_seconds",
    "officemesh_sensor_up",
    "officemesh_people_present",
    "officemesh_people_registered",
    "officemesh_entries",
    "officemesh_peers",
    "officemesh_mqtt_connected",
    "officemesh_mqtt_buffered",
    "officemesh_mqtt_captured_total",
    "officemesh_mqtt_published_total",
    "officemesh_mqtt_dropped_total",
    "officemesh_mqtt_reconnects_total",
    "officemesh_errors_total",
    "officemesh_gossip_rounds_total",
    "officemesh_gossip_bytes_sent_total",
    "officemesh_gossip_bytes_received_total",
    "officemesh_gossip_last_merge_unix_ms",
];

/// The routes this module serves.
pub fn routes() -> Router<ApiState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    ([(CONTENT_TYPE, CONTENT_TYPE_0_0_4)], render(&shared))
}

/// Renders the whole exposition for `shared`.
pub fn render(shared: &Shared) -> String {
    let now = wall_ms();
    let (readings, presence, entries, sensors) = {
        let replica = shared.state.replica();
        let readings = query::readings(
            &replica,
            now,
            &query::ReadingFilter::default(),
            Completeness::default(),
        );
        let presence = query::presence(
            &replica,
            now,
            shared.config.presence.consider_home_s * 1000,
            Completeness::default(),
        );
        let entries = replica.len();
        let sensors = crate::sensor_health::cluster_health(&replica);
        (readings, presence, entries, sensors)
    };
    let mut out = Exposition::default();
    render_build_info(&mut out, shared, now);
    render_readings(&mut out, &readings);
    render_sensor_up(&mut out, &sensors);
    render_people(&mut out, &presence, entries);
    render_peers(&mut out, &shared.mesh.peers());
    render_counters(&mut out, &shared.telemetry.counters);
    out.finish()
}

/// Build info and uptime.
fn render_build_info(out: &mut Exposition, shared: &Shared, now: u64) {
    out.family(
        "officemesh_build_info",
        "gauge",
        "Always 1; labels say the agent version and this node.",
    );
    out.sample(
        "officemesh_build_info",
        &[("version", crate::VERSION), ("node", &shared.name)],
        1.0,
    );
    out.family(
        "officemesh_uptime_seconds",
        "gauge",
        "Seconds since this agent started.",
    );
    out.sample(
        "officemesh_uptime_seconds",
        &[],
        now.saturating_sub(shared.started_at_ms) as f64 / 1000.0,
    );
}

/// 1 for every sensor in the cluster that works, 0 for one that cannot be opened or read.
fn render_sensor_up(out: &mut Exposition, sensors: &[crate::sensor_health::ClusterSensor]) {
    out.family(
        "officemesh_sensor_up",
        "gauge",
        "1 when a configured sensor opens and reads, 0 when it failed (see GET /v1/sensors).",
    );
    for row in sensors {
        let up = row.health.state == crate::state::SensorState::Ok;
        out.sample(
            "officemesh_sensor_up",
            &[
                ("sensor", &row.sensor),
                ("node", &row.node_name),
                ("room", &row.room),
                ("driver", &row.health.driver),
            ],
            if up { 1.0 } else { 0.0 },
        );
    }
}

/// Every latest reading and its age.
fn render_readings(out: &mut Exposition, readings: &query::ReadingsAnswer) {
    out.family(
        "officemesh_reading",
        "gauge",
        "Latest reading of every sensor quantity in the cluster, in the quantity's unit (°C, %, dB).",
    );
    for row in &readings.readings {
        out.sample(
            "officemesh_reading",
            &[
                ("node", &row.node_name),
                ("room", &row.room),
                ("sensor", &row.sensor),
                ("quantity", row.quantity.as_str()),
            ],
            row.value,
        );
    }
    out.family(
        "officemesh_reading_age_seconds",
        "gauge",
        "Seconds since each latest reading was taken.",
    );
    for row in &readings.readings {
        out.sample(
            "officemesh_reading_age_seconds",
            &[
                ("node", &row.node_name),
                ("room", &row.room),
                ("sensor", &row.sensor),
                ("quantity", row.quantity.as_str()),
            ],
            row.age_ms as f64 / 1000.0,
        );
    }
}

/// People present and registered, and the replica's size.
fn render_people(out: &mut Exposition, presence: &query::PresenceAnswer, entries: usize) {
    out.family(
        "officemesh_people_present",
        "gauge",
        "Registered people with a device seen within presence.consider_home_s.",
    );
    out.sample(
        "officemesh_people_present",
        &[],
        presence.present_count as f64,
    );
    out.family(
        "officemesh_people_registered",
        "gauge",
        "Registered people.",
    );
    out.sample(
        "officemesh_people_registered",
        &[],
        presence.people.len() as f64,
    );
    out.family(
        "officemesh_entries",
        "gauge",
        "Entries in this node's replica, tombstones included (as /healthz and /v1/state/hash count them).",
    );
    out.sample("officemesh_entries", &[], entries as f64);
}

/// Peers by status; every status is exported (0 when none), so dashboards see every series.
fn render_peers(out: &mut Exposition, peers: &[PeerStatus]) {
    out.family(
        "officemesh_peers",
        "gauge",
        "Peers by status as this node's gossip layer sees them.",
    );
    let mut by_status: BTreeMap<String, u64> = MemberStatus::ALL
        .iter()
        .map(|status| (status.to_string(), 0))
        .collect();
    for peer in peers {
        *by_status.entry(peer.status.to_string()).or_insert(0) += 1;
    }
    for (status, count) in &by_status {
        out.sample("officemesh_peers", &[("status", status)], *count as f64);
    }
}

/// MQTT and gossip counters, and errors by kind.
fn render_counters(out: &mut Exposition, counters: &Counters) {
    let mqtt = &counters.mqtt;
    let gauges = [
        (
            "officemesh_mqtt_connected",
            "1 while connected to the MQTT broker.",
            mqtt.connected.get(),
        ),
        (
            "officemesh_mqtt_buffered",
            "Readings waiting in the MQTT store-and-forward buffer.",
            mqtt.buffered.get(),
        ),
    ];
    for (name, help, value) in gauges {
        out.family(name, "gauge", help);
        out.sample(name, &[], value as f64);
    }
    let totals = counter_totals(counters);
    out.family(
        "officemesh_gossip_last_merge_unix_ms",
        "gauge",
        "Wall time (ms since the Unix epoch) this node last merged entries received by gossip (0: never).",
    );
    out.sample(
        "officemesh_gossip_last_merge_unix_ms",
        &[],
        counters.gossip.last_merge_unix_ms.get() as f64,
    );
    for (name, help, value) in totals {
        out.family(name, "counter", help);
        out.sample(name, &[], value as f64);
    }
    out.family(
        "officemesh_errors_total",
        "counter",
        "Errors by kind (sensor_read, persist, mqtt_connect, mqtt_buffer_full, ...).",
    );
    for (kind, count) in counters.errors() {
        out.sample("officemesh_errors_total", &[("kind", &kind)], count as f64);
    }
}

/// The MQTT and gossip counters: (name, help, value), one row each.
fn counter_totals(counters: &Counters) -> [(&'static str, &'static str, u64); 7] {
    [
        (
            "officemesh_mqtt_captured_total",
            "Readings of this node put into the MQTT buffer.",
            counters.mqtt.captured_total.get(),
        ),
        (
            "officemesh_mqtt_published_total",
            "Readings the MQTT broker acknowledged.",
            counters.mqtt.published_total.get(),
        ),
        (
            "officemesh_mqtt_dropped_total",
            "Readings dropped because the MQTT buffer was full.",
            counters.mqtt.dropped_total.get(),
        ),
        (
            "officemesh_mqtt_reconnects_total",
            "MQTT connection attempts after the first.",
            counters.mqtt.reconnects_total.get(),
        ),
        (
            "officemesh_gossip_rounds_total",
            "Gossip rounds started.",
            counters.gossip.rounds_total.get(),
        ),
        (
            "officemesh_gossip_bytes_sent_total",
            "Bytes sent on gossip connections.",
            counters.gossip.bytes_sent_total.get(),
        ),
        (
            "officemesh_gossip_bytes_received_total",
            "Bytes received on gossip connections.",
            counters.gossip.bytes_received_total.get(),
        ),
    ]
}

/// A text exposition being written: `# HELP` / `# TYPE` lines, then samples.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a metric family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One sample line: `name{label="value",…} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label_value(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", format_value(value));
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// Label values escape `\`, `"` and line feed (format 0.0.4).
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out
}

/// HELP text escapes `\` and line feed.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Sample values as Prometheus reads them: `+Inf`, `-Inf`, `NaN`, else the shortest float text.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label_value(r#"a"b"#), r#"a\"b"#);
        assert_eq!(escape_label_value(r"c:\dir"), r"c:\\dir");
        assert_eq!(escape_label_value("two\nlines"), r"two\nlines");
        assert_eq!(escape_label_value("meeting room °C"), "meeting room °C");
    }

    #[test]
    fn exposition_has_help_type_and_escaped_samples() {
        let mut out = Exposition::default();
        out.family(
            "officemesh_reading",
            "gauge",
            "Latest reading.\nSecond line \\ here.",
        );
        out.sample(
            "officemesh_reading",
            &[("node", "pi \"a\""), ("room", "lobby\\1")],
            21.5,
        );
        out.family("officemesh_entries", "gauge", "Entries.");
        out.sample("officemesh_entries", &[], 3.0);
        let text = out.finish();
        assert_eq!(
            text,
            "# HELP officemesh_reading Latest reading.\\nSecond line \\\\ here.\n\
             # TYPE officemesh_reading gauge\n\
             officemesh_reading{node=\"pi \\\"a\\\"\",room=\"lobby\\\\1\"} 21.5\n\
             # HELP officemesh_entries Entries.\n\
             # TYPE officemesh_entries gauge\n\
             officemesh_entries 3\n"
        );
    }

    #[test]
    fn special_float_values_use_prometheus_spelling() {
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(-0.25), "-0.25");
        assert_eq!(format_value(1e21), "1000000000000000000000");
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let counters = crate::counters::Counters::default();
        counters.error("mqtt_connect");
        counters.error("mqtt_connect");
        counters.error("persist");
        let errors = counters.errors();
        assert_eq!(errors.get("mqtt_connect"), Some(&2));
        assert_eq!(errors.get("persist"), Some(&1));
    }

    #[test]
    fn every_exported_name_follows_prometheus_naming() {
        for name in METRIC_NAMES {
            assert!(name.starts_with("officemesh_"), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
        }
    }
}
