//! The store-and-forward buffer is bounded: with the broker unreachable, a real agent keeps
//! exactly `mqtt.buffer_max` readings, drops the oldest, and counts every drop.

use crate::support;
use crate::support::mqtt as mqtt_support;

use std::time::Duration;

use mqtt_support::{free_port, metric, metrics_text};
use support::{eventually, AgentSpec, TestAgent};

#[test]
fn a_full_buffer_drops_the_oldest_and_counts_them() {
    let root = tempfile::tempdir().expect("tempdir");
    // Nothing listens on this port: every connection attempt is refused.
    let port = free_port();
    let extra = format!(
        "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n\n[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\nbuffer_max = 5\nreconnect_min_ms = 200\nreconnect_max_ms = 400\n"
    );
    let agent = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-bound",
            extra: &extra,
            ..AgentSpec::default()
        },
    );
    // Counters move once a second; compare a snapshot taken between two polls.
    let text = eventually(Duration::from_secs(20), || {
        let text = metrics_text(&agent.api);
        let captured = metric(&text, "officemesh_mqtt_captured_total")?;
        let dropped = metric(&text, "officemesh_mqtt_dropped_total")?;
        (dropped >= 4.0 && captured - dropped == 5.0).then_some(text)
    })
    .unwrap_or_else(|| panic!("captured = 5 kept + dropped:\n{}", metrics_text(&agent.api)));
    let captured = metric(&text, "officemesh_mqtt_captured_total").expect("captured");
    let dropped = metric(&text, "officemesh_mqtt_dropped_total").expect("dropped");
    assert_eq!(
        metric(&text, "officemesh_mqtt_buffered"),
        Some(5.0),
        "{text}"
    );
    assert_eq!(metric(&text, "officemesh_mqtt_published_total"), Some(0.0));
    assert_eq!(
        metric(&text, "officemesh_errors_total{kind=\"mqtt_buffer_full\"}"),
        Some(dropped),
        "{text}"
    );
    assert!(
        agent.log().contains("MQTT buffer full"),
        "a warning says so:\n{}",
        agent.log()
    );
    // The five kept are the newest: their seqs are the last five given.
    let buffer = officemesh::mqtt::Buffer::open(&agent.dir.join("data"), 5).expect("buffer");
    let (last, kept) = eventually(Duration::from_secs(10), || {
        let last = buffer.last_seq().ok()?;
        let kept: Vec<u64> = buffer
            .after(0, 100)
            .ok()?
            .into_iter()
            .map(|(seq, _)| seq)
            .collect();
        (buffer.last_seq().ok()? == last).then_some((last, kept))
    })
    .expect("a stable read of the buffer");
    assert!(last >= captured as u64, "{last} vs {captured}");
    assert_eq!(kept, ((last - 4)..=last).collect::<Vec<_>>());
}
