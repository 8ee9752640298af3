//! The MQTT publisher against a real Mosquitto and real agent processes: Home Assistant
//! discovery payloads, readings, presence, birth and last will (SIGKILL) and the clean `offline`
//! (SIGTERM), and store-and-forward across a broker outage and an agent crash — every reading
//! delivered once at least, in order, with its original timestamp.

use crate::support;
use crate::support::mqtt as mqtt_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mqtt_support::{metric, metrics_text, require_mosquitto, Mosquitto, Received, Subscriber};
use serde_json::Value as Json;
use support::{eventually, send, AgentSpec, TestAgent};

const NODE: &str = "pi-mqtt";

fn agent_extra(broker_url: &str, poll_interval_s: u64) -> String {
    format!(
        "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = {poll_interval_s}\n\n[mqtt]\nurl = \"{broker_url}\"\nreconnect_min_ms = 100\nreconnect_max_ms = 800\nkeep_alive_s = 5\n"
    )
}

fn start_agent(root: &std::path::Path, extra: &str) -> TestAgent {
    TestAgent::start(
        root,
        AgentSpec {
            name: NODE,
            room: "lobby",
            extra,
            ..AgentSpec::default()
        },
    )
}

/// The discovery config messages received, by topic (latest payload), skipping deletions.
fn configs(messages: &[Received], component: &str) -> BTreeMap<String, Json> {
    messages
        .iter()
        .filter(|m| {
            m.topic.starts_with(&format!("homeassistant/{component}/"))
                && m.topic.ends_with("/config")
                && !m.payload.is_empty()
        })
        .map(|m| (m.topic.clone(), m.json()))
        .collect()
}

#[test]
fn discovery_readings_presence_and_availability_reach_the_broker() {
    let Some(binary) = require_mosquitto("mqtt_broker::discovery") else {
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    let broker = Mosquitto::start(&binary, &root.path().join("broker"), "");
    let subscriber = Subscriber::connect(
        broker.port,
        "test-watch",
        &["officemesh/#", "homeassistant/#"],
        false,
    );
    // Plus a BME280 on a bus that does not exist: its own availability says `offline`.
    let failing = "\n[[sensors]]\ndriver = \"bme280\"\nname = \"window\"\ni2c_bus = 7\n";
    let mut agent = start_agent(
        root.path(),
        &format!("{}{failing}", agent_extra(&broker.url(), 1)),
    );
    let node_id = agent.get("/healthz")["node"]
        .as_str()
        .expect("node id")
        .to_string();
    let availability = format!("officemesh/{NODE}/availability");

    // Birth: `online` on the availability topic.
    subscriber.wait_for("birth", Duration::from_secs(20), |messages| {
        messages
            .iter()
            .any(|m| m.topic == availability && m.text() == "online")
            .then_some(())
    });

    // Per-sensor availability: the sim sensor is up, the BME280 on /dev/i2c-7 is not.
    if !std::path::Path::new("/dev/i2c-7").exists() {
        subscriber.wait_for("sensor availability", Duration::from_secs(20), |messages| {
            let last = |sensor: &str| {
                let topic = format!("officemesh/{NODE}/{sensor}/availability");
                messages
                    .iter()
                    .rev()
                    .find(|m| m.topic == topic)
                    .map(|m| m.text())
            };
            (last("desk").as_deref() == Some("online")
                && last("window").as_deref() == Some("offline"))
            .then_some(())
        });
    }

    // Discovery: one config per sensor quantity, with what Home Assistant requires.
    let sensors = subscriber.wait_for("3 sensor configs", Duration::from_secs(20), |messages| {
        let found = configs(messages, "sensor");
        (found.len() == 3).then_some(found)
    });
    let expected = [
        ("temperature", "temperature", "°C"),
        ("humidity", "humidity", "%"),
        ("sound", "sound_pressure", "dB"),
    ];
    for (quantity, device_class, unit) in expected {
        let unique_id = format!("officemesh_{node_id}_desk_{quantity}");
        let topic = format!("homeassistant/sensor/{unique_id}/config");
        let config = sensors
            .get(&topic)
            .unwrap_or_else(|| panic!("no {topic} in {sensors:?}"));
        assert_eq!(config["unique_id"], unique_id.as_str());
        assert_eq!(config["device_class"], device_class);
        assert_eq!(config["unit_of_measurement"], unit);
        assert_eq!(config["state_class"], "measurement");
        assert_eq!(config["expire_after"], 60);
        assert_eq!(
            config["state_topic"],
            format!("officemesh/{NODE}/desk/{quantity}").as_str()
        );
        assert_eq!(config["value_template"], "{{ value_json.value }}");
        assert_eq!(config["availability"][0]["topic"], availability.as_str());
        assert_eq!(
            config["availability"][1]["topic"],
            format!("officemesh/{NODE}/desk/availability").as_str()
        );
        assert_eq!(config["availability_mode"], "all");
        assert_eq!(config["payload_available"], "online");
        assert_eq!(config["payload_not_available"], "offline");
        let device = &config["device"];
        assert_eq!(
            device["identifiers"],
            serde_json::json!([format!("officemesh_{node_id}")])
        );
        assert_eq!(device["name"], NODE);
        assert_eq!(device["model"], "officemesh agent");
        assert_eq!(device["sw_version"], officemesh::VERSION);
        assert_eq!(device["suggested_area"], "lobby");
    }
    // Readings: the latest one the API reports arrives with the same value and timestamp.
    let temperature_topic = format!("officemesh/{NODE}/desk/temperature");
    let latest = eventually(Duration::from_secs(20), || {
        let answer = agent.get("/v1/readings?quantity=temperature");
        let row = answer["readings"].as_array()?.first()?.clone();
        let taken_at = row["taken_at_ms"].as_u64()?;
        let arrived = subscriber
            .on(&temperature_topic)
            .iter()
            .map(Received::json)
            .find(|message| message["taken_at_ms"].as_u64() == Some(taken_at))?;
        Some((row, arrived))
    })
    .expect("the API's latest temperature reading arrives over MQTT");
    let (row, message) = latest;
    assert_eq!(message["value"], row["value"]);
    assert_eq!(message["unit"], "°C");
    assert_eq!(message["status"], "ok");
    assert_eq!(message["room"], "lobby");
    assert!(message["seq"].as_u64().is_some_and(|seq| seq >= 1));

    // A person: a device tracker (published by this node, alone in its cluster) and a state.
    let (status, body) = send(
        "POST",
        &format!("{}/v1/people", agent.api),
        None,
        Some(r#"{"name": "Ada Lovelace", "mac": "b8:27:eb:00:00:01"}"#),
    );
    assert_eq!(status, 201, "{body}");
    let trackers = subscriber.wait_for("tracker config", Duration::from_secs(20), |messages| {
        let found = configs(messages, "device_tracker");
        (!found.is_empty()).then_some(found)
    });
    let (tracker_topic, tracker) = trackers.iter().next().expect("one tracker");
    assert!(
        tracker_topic.starts_with("homeassistant/device_tracker/officemesh_person_ada_lovelace_"),
        "{tracker_topic}"
    );
    assert_eq!(tracker["source_type"], "router");
    assert_eq!(tracker["payload_home"], "home");
    assert_eq!(tracker["payload_not_home"], "not_home");
    assert_eq!(tracker["state_topic"], "officemesh/presence/Ada Lovelace");
    assert_eq!(
        tracker["unique_id"],
        tracker_topic.split('/').nth(2).unwrap_or("")
    );
    let state = subscriber.wait_for("presence state", Duration::from_secs(20), |_| {
        subscriber
            .on("officemesh/presence/Ada Lovelace")
            .last()
            .map(Received::text)
    });
    // b8:27:eb:00:00:01 is not one of the simulated devices: nobody saw it.
    assert_eq!(state, "not_home");
    let presence = agent.get("/v1/presence");
    assert_eq!(presence["people"][0]["present"], false);

    // Home Assistant restarting (`online` on its status topic) makes the agent announce again.
    let announced_before = subscriber
        .messages()
        .iter()
        .filter(|m| m.topic.starts_with("homeassistant/sensor/"))
        .count();
    subscriber
        .client
        .publish(
            "homeassistant/status",
            rumqttc::QoS::AtLeastOnce,
            false,
            "online",
        )
        .expect("publish HA birth");
    subscriber.wait_for("re-announcement", Duration::from_secs(20), |messages| {
        let now = messages
            .iter()
            .filter(|m| m.topic.starts_with("homeassistant/sensor/"))
            .count();
        (now >= announced_before + 3).then_some(())
    });

    // A late subscriber gets the retained discovery configs and `online`.
    let late = Subscriber::connect(
        broker.port,
        "test-late",
        &["homeassistant/sensor/#", &availability],
        false,
    );
    late.wait_for("retained configs", Duration::from_secs(10), |messages| {
        let retained_configs = messages
            .iter()
            .filter(|m| m.topic.starts_with("homeassistant/sensor/") && m.retain)
            .count();
        let online = messages
            .iter()
            .any(|m| m.topic == availability && m.retain && m.text() == "online");
        (retained_configs >= 3 && online).then_some(())
    });
    drop(late);

    // SIGKILL: the broker publishes the last will, `offline`, retained.
    agent.kill();
    subscriber.wait_for("last will", Duration::from_secs(20), |messages| {
        messages
            .iter()
            .rev()
            .find(|m| m.topic == availability)
            .filter(|m| m.text() == "offline")
            .map(|_| ())
    });
    let late = Subscriber::connect(broker.port, "test-late-2", &[&availability], false);
    late.wait_for("retained offline", Duration::from_secs(10), |messages| {
        messages
            .iter()
            .any(|m| m.retain && m.text() == "offline")
            .then_some(())
    });
    drop(late);

    // Restart: `online` again; SIGTERM: a clean `offline` before the clean disconnect.
    let onlines = subscriber
        .on(&availability)
        .iter()
        .filter(|m| m.text() == "online")
        .count();
    agent.spawn();
    subscriber.wait_for("second birth", Duration::from_secs(20), |_| {
        let now = subscriber
            .on(&availability)
            .iter()
            .filter(|m| m.text() == "online")
            .count();
        (now > onlines).then_some(())
    });
    let status = agent.stop();
    assert!(status.success(), "clean exit: {status}");
    subscriber.wait_for("clean offline", Duration::from_secs(10), |_| {
        subscriber
            .on(&availability)
            .last()
            .filter(|m| m.text() == "offline")
            .map(|_| ())
    });
    assert!(
        agent.log().contains("MQTT disconnected"),
        "clean shutdown path taken:\n{}",
        agent.log()
    );
}

/// Readings received on this node's reading topics: (arrival index, topic, seq, taken_at_ms).
/// The sensor's availability topic sits under the same prefix and is not a reading.
fn reading_messages(messages: &[Received]) -> Vec<(String, u64, u64)> {
    let prefix = format!("officemesh/{NODE}/desk/");
    messages
        .iter()
        .filter(|m| m.topic.starts_with(&prefix) && !m.topic.ends_with("/availability"))
        .map(|m| {
            let json = m.json();
            (
                m.topic.clone(),
                json["seq"].as_u64().expect("seq"),
                json["taken_at_ms"].as_u64().expect("taken_at_ms"),
            )
        })
        .collect()
}

#[test]
fn readings_taken_while_the_broker_is_away_arrive_in_order_and_none_is_missing() {
    let Some(binary) = require_mosquitto("mqtt_broker::store_and_forward") else {
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    let mut broker = Mosquitto::start(&binary, &root.path().join("broker"), "");
    // Persistent session: the broker queues what is published while this subscriber is
    // reconnecting after the broker restart.
    let subscriber = Subscriber::connect(broker.port, "test-store", &["officemesh/#"], true);
    let mut agent = start_agent(root.path(), &agent_extra(&broker.url(), 1));
    let metrics = |agent: &TestAgent, name: &str| metric(&metrics_text(&agent.api), name);

    subscriber.wait_for("first readings", Duration::from_secs(20), |messages| {
        (reading_messages(messages).len() >= 6).then_some(())
    });

    // The broker goes away: readings pile up in the buffer. One reading (three rows) taken
    // before the stop may still be on its way to the buffer (held for the batch), so nine rows
    // hold at least two readings taken during the outage.
    let outage_start_ms = now_ms();
    broker.stop();
    eventually(Duration::from_secs(20), || {
        let text = metrics_text(&agent.api);
        (metric(&text, "officemesh_mqtt_connected") == Some(0.0)
            && metric(&text, "officemesh_mqtt_buffered")? >= 9.0)
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "readings buffered while the broker is down:\n{}",
            metrics_text(&agent.api)
        )
    });

    // The agent crashes while the broker is away; the buffer is in SQLite and survives.
    agent.kill();
    agent.spawn();
    let buffered_after_restart = metrics(&agent, "officemesh_mqtt_buffered").expect("gauge");
    assert!(
        buffered_after_restart >= 9.0,
        "buffer restored after SIGKILL: {buffered_after_restart}"
    );
    eventually(Duration::from_secs(20), || {
        (metrics(&agent, "officemesh_mqtt_buffered")? >= buffered_after_restart + 3.0).then_some(())
    })
    .expect("the restarted agent keeps buffering");

    // The broker is back: the buffer drains.
    broker.spawn();
    let outage_end_ms = now_ms();
    eventually(Duration::from_secs(30), || {
        let text = metrics_text(&agent.api);
        (metric(&text, "officemesh_mqtt_published_total")? >= buffered_after_restart + 3.0
            && metric(&text, "officemesh_mqtt_buffered")? <= 3.0)
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "buffer drained after the broker came back:\n{}\nagent log:\n{}",
            metrics_text(&agent.api),
            agent.log()
        )
    });
    assert!(
        metrics(&agent, "officemesh_mqtt_reconnects_total").expect("counter") >= 1.0,
        "the agent reconnected"
    );

    // Stop the agent: every seq it ever gave is now either delivered or still in its buffer.
    assert!(agent.stop().success());
    let buffer = officemesh::mqtt::Buffer::open(&agent.dir.join("data"), 10_000).expect("buffer");
    let last_seq = buffer.last_seq().expect("last seq");
    let still_buffered: BTreeSet<u64> = buffer
        .after(0, 100_000)
        .expect("rows")
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    drop(buffer);
    let delivered =
        subscriber.wait_for("every published seq", Duration::from_secs(20), |messages| {
            let readings = reading_messages(messages);
            let seqs: BTreeSet<u64> = readings.iter().map(|(_, seq, _)| *seq).collect();
            (1..=last_seq)
                .all(|seq| seqs.contains(&seq) || still_buffered.contains(&seq))
                .then_some(readings)
        });

    // In order: first arrivals have increasing seq; per topic, taken_at_ms increases with seq.
    let mut seen = BTreeSet::new();
    let mut first_arrivals = Vec::new();
    for (topic, seq, taken_at) in &delivered {
        if seen.insert(*seq) {
            first_arrivals.push((topic.clone(), *seq, *taken_at));
        }
    }
    let duplicates = delivered.len() - first_arrivals.len();
    for pair in first_arrivals.windows(2) {
        assert!(
            pair[0].1 < pair[1].1,
            "seq out of order: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    let mut by_topic: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for (topic, seq, taken_at) in &first_arrivals {
        by_topic.entry(topic).or_default().push((*seq, *taken_at));
    }
    assert_eq!(by_topic.len(), 3, "temperature, humidity, sound");
    for (topic, series) in &by_topic {
        for pair in series.windows(2) {
            assert!(
                pair[0].1 < pair[1].1,
                "{topic}: taken_at_ms not increasing: {pair:?}"
            );
        }
    }
    // Every seq up to the last delivered one arrived: nothing was lost on the way.
    let max_delivered = first_arrivals
        .iter()
        .map(|(_, seq, _)| *seq)
        .max()
        .unwrap_or(0);
    let missing: Vec<u64> = (1..=max_delivered)
        .filter(|seq| !seen.contains(seq))
        .collect();
    assert!(missing.is_empty(), "missing seqs: {missing:?}");
    // Readings taken during the outage were delivered, with their original timestamps.
    let during_outage = first_arrivals
        .iter()
        .filter(|(_, _, taken_at)| (outage_start_ms..outage_end_ms).contains(taken_at))
        .count();
    assert!(
        during_outage >= 9,
        "readings taken while the broker was down were forwarded: {during_outage}"
    );
    eprintln!(
        "store-and-forward: last_seq {last_seq}, delivered {} distinct ({} duplicates), {} still buffered at stop, {during_outage} taken during the outage",
        first_arrivals.len(),
        duplicates,
        still_buffered.len()
    );
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Home Assistant's view of a steady sensor: a temperature that never moves by more than its
/// `publish_delta` is re-published only at its heartbeat (65 s, longer than the 60 s
/// `expire_after` older agents announced). Played as HA plays it: take the `expire_after` the
/// discovery config announces, then watch every state and availability message for longer than
/// the old timeout; the sensor must never be silent longer than its own `expire_after`, and its
/// availability never `offline`.
#[test]
fn a_steady_sensor_stays_available_past_the_old_expire_after() {
    const OLD_EXPIRE_AFTER_S: u64 = 60;
    let Some(binary) = require_mosquitto("mqtt_broker::steady_sensor") else {
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    let broker = Mosquitto::start(&binary, &root.path().join("broker"), "");
    let subscriber = Subscriber::connect(
        broker.port,
        "test-steady",
        &["officemesh/#", "homeassistant/#"],
        false,
    );
    let extra = agent_extra(&broker.url(), 1).replacen(
        "\n\n[mqtt]",
        "\n[sensors.temperature]\npublish_delta = 100.0\nheartbeat_s = 65\n\n[mqtt]",
        1,
    );
    let _agent = start_agent(root.path(), &extra);
    let state_topic = format!("officemesh/{NODE}/desk/temperature");
    let availability = [
        format!("officemesh/{NODE}/availability"),
        format!("officemesh/{NODE}/desk/availability"),
    ];
    let expire_after_s = subscriber.wait_for("temperature config", Duration::from_secs(20), |m| {
        configs(m, "sensor")
            .values()
            .find(|config| config["state_topic"] == state_topic.as_str())
            .map(|config| config["expire_after"].as_u64())
    });
    let expire_after_s = expire_after_s.expect("a steady temperature announces an expire_after");
    assert!(
        expire_after_s > OLD_EXPIRE_AFTER_S,
        "expire_after {expire_after_s} s is not longer than the 65 s heartbeat"
    );
    // The window: from the first state until longer than the old timeout plus a poll past the
    // heartbeat, so the heartbeat's state (or its absence) is inside it.
    let window = Duration::from_secs(OLD_EXPIRE_AFTER_S + 15);
    let first = subscriber.wait_for("first state", Duration::from_secs(20), |_| {
        subscriber.on(&state_topic).first().map(|m| m.at)
    });
    let end = subscriber.wait_for("the window to pass", window * 2, |_| {
        let now = std::time::Instant::now();
        (now.duration_since(first) >= window).then_some(now)
    });
    let states: Vec<std::time::Instant> = subscriber
        .on(&state_topic)
        .iter()
        .map(|m| m.at)
        .filter(|at| *at <= end)
        .chain(std::iter::once(end))
        .collect();
    let longest = states
        .windows(2)
        .map(|pair| pair[1].duration_since(pair[0]))
        .max()
        .unwrap_or_default();
    assert!(
        longest > Duration::from_secs(OLD_EXPIRE_AFTER_S),
        "the value was re-published within {longest:?}: not steady, the test shows nothing"
    );
    assert!(
        longest < Duration::from_secs(expire_after_s),
        "no state for {longest:?}, longer than expire_after {expire_after_s} s: HA showed the \
         sensor unavailable"
    );
    // Before its first read a sensor is "not opened yet" (offline); from its first state on it
    // must stay online.
    for topic in &availability {
        let offline: Vec<String> = subscriber
            .on(topic)
            .iter()
            .filter(|m| m.at > first && m.at <= end && m.text() != "online")
            .map(Received::text)
            .collect();
        assert!(offline.is_empty(), "{topic} said {offline:?} while steady");
    }
}
