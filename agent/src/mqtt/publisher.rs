//! The MQTT connection loop. Each connection is a fresh rumqttc client + event loop (clean
//! session), so what was in flight when a connection died is re-sent from the buffer, in order,
//! by the next one. Per connection: wait for CONNACK, publish `online` (retained) on the
//! availability topic, subscribe to Home Assistant's status, announce discovery, then publish
//! buffered readings in `seq` order (QoS 1, a bounded window in flight) and delete them from the
//! buffer once the broker acknowledged them; publish presence when this node is the cluster's
//! presence publisher. Between connections: capped exponential backoff with jitter. On shutdown:
//! `offline` (retained), then a clean DISCONNECT.
//!
//! Takes the whole `Shared`: it reads the replica (`state`), the peers and whether this node has
//! caught up (`mesh`, `presence`), this node's sensor board, and writes only the buffer and the
//! counters (`telemetry`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use officemesh_sensors::Quantity;
use rand::Rng;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, Outgoing, QoS};
use tokio::sync::{mpsc, watch};

use super::backoff::Backoff;
use super::discovery::{self, NodeDevice};
use super::topics::{ReadingMessage, Topics};
use super::{MqttError, Outbox};
use crate::clock::wall_ms;
use crate::shared::Shared;
use crate::state::query::{self, Completeness};
use crate::state::{Key, Value};

/// Readings published but not yet acknowledged, at most.
const WINDOW: usize = 64;
/// How long a connection attempt may take until CONNACK.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How often acknowledged rows are deleted and presence is looked at.
const TICK: Duration = Duration::from_secs(1);

/// What a publish call was, so its packet id can be matched to its acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Reading(u64),
    Other,
}

/// The connection's events, as its event-loop task forwards them.
type Events = mpsc::Receiver<Result<Event, rumqttc::ConnectionError>>;

/// How a connection ended.
enum End {
    Shutdown,
    Lost {
        reason: MqttError,
        was_connected: bool,
    },
}

/// Connects, publishes, reconnects with backoff, until shutdown.
pub(crate) async fn run(
    shared: Arc<Shared>,
    outbox: Arc<Outbox>,
    options: MqttOptions,
    topics: Topics,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = &shared.config.mqtt;
    let mut backoff = Backoff::new(config.reconnect_min_ms, config.reconnect_max_ms);
    let mut first = true;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if !first {
            shared.telemetry.counters.mqtt.reconnects_total.inc();
        }
        first = false;
        let mut session = Session::new(&shared, &outbox, &topics, options.clone());
        let end = session.run(&mut shutdown).await;
        shared.telemetry.counters.mqtt.connected.set(0);
        // Rows acknowledged since the last tick must not be sent again by the next connection.
        session.remove_acknowledged().await;
        match end {
            End::Shutdown => return,
            End::Lost {
                reason,
                was_connected,
            } => {
                if was_connected {
                    backoff.reset();
                    shared.telemetry.counters.error("mqtt_connection_lost");
                } else {
                    shared.telemetry.counters.error("mqtt_connect");
                }
                let delay = backoff.next_delay(rand::thread_rng().gen::<f64>());
                tracing::warn!(
                    broker = %config.url,
                    %reason,
                    attempt = backoff.attempts(),
                    retry_in_ms = delay.as_millis() as u64,
                    buffered = shared.telemetry.counters.mqtt.buffered.get(),
                    "MQTT broker unreachable; readings are kept in the buffer"
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}

/// One connection's state.
struct Session<'a> {
    shared: &'a Arc<Shared>,
    outbox: &'a Arc<Outbox>,
    topics: &'a Topics,
    options: Option<MqttOptions>,
    client: Option<AsyncClient>,
    /// Tags of publish calls whose `Outgoing::Publish` event has not been seen yet, in order.
    tags: VecDeque<Tag>,
    /// Packet id → reading seq, for publishes awaiting PUBACK.
    pkids: HashMap<u16, u64>,
    /// Readings published and not yet acknowledged.
    in_flight: BTreeSet<u64>,
    /// Highest seq handed to the client in this connection.
    cursor: u64,
    /// Rows up to here were deleted from the buffer.
    removed_through: u64,
    /// Sensor quantities whose discovery config was published in this connection.
    announced: BTreeSet<(String, Quantity)>,
    /// People whose tracker config was published in this connection.
    announced_people: BTreeSet<String>,
    /// Presence state last published per person, while this node publishes presence.
    people: BTreeMap<String, &'static str>,
    /// Availability last published per sensor of this node (`online` / `offline`).
    sensor_availability: BTreeMap<String, &'static str>,
}

impl<'a> Session<'a> {
    fn new(
        shared: &'a Arc<Shared>,
        outbox: &'a Arc<Outbox>,
        topics: &'a Topics,
        options: MqttOptions,
    ) -> Self {
        Session {
            shared,
            outbox,
            topics,
            options: Some(options),
            client: None,
            tags: VecDeque::new(),
            pkids: HashMap::new(),
            in_flight: BTreeSet::new(),
            cursor: 0,
            removed_through: 0,
            announced: BTreeSet::new(),
            announced_people: BTreeSet::new(),
            people: BTreeMap::new(),
            sensor_availability: BTreeMap::new(),
        }
    }

    async fn run(&mut self, shutdown: &mut watch::Receiver<bool>) -> End {
        let (mut events, _pump) = match self.connect(shutdown).await {
            Ok(connected) => connected,
            Err(end) => return end,
        };
        self.shared.telemetry.counters.mqtt.connected.set(1);
        tracing::info!(
            broker = %self.shared.config.mqtt.url,
            buffered = self.shared.telemetry.counters.mqtt.buffered.get(),
            "MQTT connected"
        );
        let lost = |reason: MqttError| End::Lost {
            reason,
            was_connected: true,
        };
        if let Err(reason) = self.on_connect().await {
            return lost(reason);
        }
        let outbox = self.outbox.clone();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let step = tokio::select! {
                _ = shutdown.changed() => {
                    self.goodbye(&mut events).await;
                    return End::Shutdown;
                }
                event = events.recv() => match event {
                    Some(Ok(event)) => self.handle(event).await,
                    Some(Err(err)) => Err(err.into()),
                    None => Err(MqttError::EventLoopStopped),
                },
                _ = outbox.added.notified(), if self.in_flight.len() < WINDOW => self.send_more().await,
                _ = tick.tick() => self.on_tick().await,
            };
            if let Err(reason) = step {
                return lost(reason);
            }
        }
    }

    /// Starts this connection's client and event loop, then waits for CONNACK (or shutdown).
    async fn connect(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(Events, AbortOnDrop), End> {
        let not_connected = |reason| End::Lost {
            reason,
            was_connected: false,
        };
        let options = self
            .options
            .take()
            .ok_or(not_connected(MqttError::SessionReused))?;
        let (client, mut eventloop) = AsyncClient::new(options, 512);
        self.client = Some(client);
        let (events_tx, mut events) = mpsc::channel(1024);
        let pump = AbortOnDrop(tokio::spawn(async move {
            loop {
                let event = eventloop.poll().await;
                let failed = event.is_err();
                if events_tx.send(event).await.is_err() || failed {
                    return;
                }
            }
        }));
        let connected = tokio::select! {
            result = tokio::time::timeout(CONNECT_TIMEOUT, wait_for_connack(&mut events)) => match result {
                Ok(result) => result,
                Err(_) => Err(MqttError::ConnectTimeout(CONNECT_TIMEOUT)),
            },
            _ = shutdown.changed() => return Err(End::Shutdown),
        };
        connected.map(|()| (events, pump)).map_err(not_connected)
    }

    fn client(&self) -> Result<&AsyncClient, MqttError> {
        self.client.as_ref().ok_or(MqttError::NoClient)
    }

    async fn publish(
        &mut self,
        topic: String,
        retain: bool,
        payload: Vec<u8>,
        tag: Tag,
    ) -> Result<(), MqttError> {
        // The tag goes first: the event loop may report the publish before this call returns.
        self.tags.push_back(tag);
        let result = self
            .client()?
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await;
        if let Err(err) = result {
            self.tags.pop_back();
            return Err(MqttError::Publish(err));
        }
        Ok(())
    }

    async fn on_connect(&mut self) -> Result<(), MqttError> {
        let availability = self.topics.availability();
        self.publish(availability, true, b"online".to_vec(), Tag::Other)
            .await?;
        if self.shared.config.mqtt.discovery {
            let status = self.topics.ha_status();
            self.client()?
                .subscribe(status, QoS::AtLeastOnce)
                .await
                .map_err(MqttError::Subscribe)?;
            self.announce_known_sensors().await?;
        }
        self.publish_sensor_availability().await?;
        self.publish_presence().await?;
        self.send_more().await
    }

    /// Each sensor of this node `online` or `offline` (retained) when that changed: a sensor that
    /// cannot be opened or read shows as unavailable in Home Assistant.
    async fn publish_sensor_availability(&mut self) -> Result<(), MqttError> {
        for row in self.shared.telemetry.sensors.snapshot() {
            let state = match row.status {
                crate::state::SensorState::Ok => "online",
                crate::state::SensorState::Failed => "offline",
            };
            if self.sensor_availability.get(&row.name) == Some(&state) {
                continue;
            }
            let topic = self.topics.sensor_availability(&row.name);
            self.publish(topic, true, state.as_bytes().to_vec(), Tag::Other)
                .await?;
            self.sensor_availability.insert(row.name, state);
        }
        Ok(())
    }

    async fn handle(&mut self, event: Event) -> Result<(), MqttError> {
        match event {
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some(Tag::Reading(seq)) = self.tags.pop_front() {
                    self.pkids.insert(pkid, seq);
                }
            }
            Event::Incoming(Incoming::PubAck(ack)) => {
                if let Some(seq) = self.pkids.remove(&ack.pkid) {
                    self.in_flight.remove(&seq);
                    let through = match self.in_flight.first() {
                        Some(oldest) => oldest.saturating_sub(1),
                        None => self.cursor,
                    };
                    self.outbox
                        .delivered_through
                        .fetch_max(through, std::sync::atomic::Ordering::Release);
                    self.shared.telemetry.counters.mqtt.published_total.inc();
                    if self.in_flight.len() < WINDOW / 2 {
                        self.send_more().await?;
                    }
                }
            }
            Event::Incoming(Incoming::Publish(message))
                if message.topic == self.topics.ha_status()
                    && message.payload.as_ref() == b"online" =>
            {
                tracing::info!("Home Assistant is online: announcing discovery again");
                self.announced.clear();
                self.announced_people.clear();
                self.people.clear();
                self.announce_known_sensors().await?;
                self.publish_presence().await?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn on_tick(&mut self) -> Result<(), MqttError> {
        self.remove_acknowledged().await;
        self.publish_sensor_availability().await?;
        self.publish_presence().await?;
        self.send_more().await
    }

    /// Publishes buffered readings after `cursor`, in order, while the window has room.
    async fn send_more(&mut self) -> Result<(), MqttError> {
        while self.in_flight.len() < WINDOW {
            let room = WINDOW - self.in_flight.len();
            let after = self.cursor;
            let rows = match self.outbox.with(move |b| b.after(after, room)).await {
                Ok(rows) => rows,
                Err(err) => {
                    self.shared.telemetry.counters.error("mqtt_buffer");
                    tracing::error!(error = %err, "cannot read the MQTT buffer");
                    return Ok(());
                }
            };
            if rows.is_empty() {
                return Ok(());
            }
            for (seq, reading) in rows {
                self.cursor = seq;
                let Some(quantity) = Quantity::parse(&reading.quantity) else {
                    self.shared.telemetry.counters.error("mqtt_bad_buffer_row");
                    continue;
                };
                if self.shared.config.mqtt.discovery
                    && !self.announced.contains(&(reading.sensor.clone(), quantity))
                {
                    self.announce_sensor(&reading.sensor, quantity).await?;
                }
                let message = ReadingMessage {
                    value: reading.value,
                    unit: reading.unit,
                    status: reading.status,
                    taken_at_ms: reading.taken_at_ms,
                    room: reading.room,
                    seq,
                };
                let payload = serde_json::to_vec(&message)?;
                let topic = self.topics.reading(&reading.sensor, quantity);
                self.in_flight.insert(seq);
                self.publish(topic, false, payload, Tag::Reading(seq))
                    .await?;
            }
        }
        Ok(())
    }

    /// Deletes rows the broker acknowledged (everything handed out below the oldest unacked).
    async fn remove_acknowledged(&mut self) {
        let through = match self.in_flight.first() {
            Some(oldest) => oldest.saturating_sub(1),
            None => self.cursor,
        };
        if through <= self.removed_through {
            return;
        }
        match self
            .outbox
            .with(move |b| {
                b.remove_through(through)?;
                b.len()
            })
            .await
        {
            Ok(waiting) => {
                self.removed_through = through;
                self.shared.telemetry.counters.mqtt.buffered.set(waiting);
            }
            Err(err) => {
                self.shared.telemetry.counters.error("mqtt_buffer");
                tracing::error!(error = %err, "cannot delete published readings from the MQTT buffer");
            }
        }
    }

    fn device(&self) -> NodeDevice {
        NodeDevice {
            node: self.shared.node,
            name: self.shared.name.clone(),
            room: self.shared.config.node.room.clone(),
            version: crate::VERSION.to_string(),
        }
    }

    async fn announce_sensor(&mut self, sensor: &str, quantity: Quantity) -> Result<(), MqttError> {
        let expire_after_s = match self.shared.config.sensors.iter().find(|s| s.name == sensor) {
            Some(spec) => discovery::expire_after_s(
                &spec.publish_policy(quantity),
                spec.poll_interval_s,
                self.shared.config.storage.readings_batch_ms,
            ),
            None => Some(60),
        };
        let (topic, payload) = discovery::sensor_config(
            self.topics,
            &self.device(),
            sensor,
            quantity,
            expire_after_s,
        );
        self.publish(topic, true, payload.to_string().into_bytes(), Tag::Other)
            .await?;
        self.announced.insert((sensor.to_string(), quantity));
        Ok(())
    }

    /// Announces every sensor quantity of this node the replica holds a reading of.
    async fn announce_known_sensors(&mut self) -> Result<(), MqttError> {
        let own: BTreeSet<(String, Quantity)> = {
            let replica = self.shared.state.replica();
            replica
                .live()
                .filter_map(|(key, value)| match (key, value) {
                    (
                        Key::Reading {
                            node,
                            sensor,
                            quantity,
                        },
                        Value::Reading(_),
                    ) if *node == self.shared.node => Some((sensor.clone(), *quantity)),
                    _ => None,
                })
                .collect()
        };
        for (sensor, quantity) in own {
            if !self.announced.contains(&(sensor.clone(), quantity)) {
                self.announce_sensor(&sensor, quantity).await?;
            }
        }
        Ok(())
    }

    /// When this node is the presence publisher: each registered person's `home` / `not_home`
    /// (retained) when it changed, their tracker config first; removed people are cleared.
    async fn publish_presence(&mut self) -> Result<(), MqttError> {
        let me = self.shared.node;
        if discovery::presence_publisher(me, &self.shared.mesh.peers()) != me {
            self.people.clear();
            return Ok(());
        }
        // Only a view that has caught up with the mesh publishes: a node back after longer than
        // consider_home would otherwise announce a false `not_home` for everyone who is in.
        if !self.shared.caught_up(wall_ms()) {
            return Ok(());
        }
        let current = self.presence_now();
        let removed: Vec<String> = self
            .people
            .keys()
            .filter(|name| !current.contains_key(*name))
            .cloned()
            .collect();
        for name in removed {
            self.clear_person(&name).await?;
        }
        for (name, state) in &current {
            if self.shared.config.mqtt.discovery && !self.announced_people.contains(name) {
                let (topic, payload) = discovery::person_config(self.topics, name);
                self.publish(topic, true, payload.to_string().into_bytes(), Tag::Other)
                    .await?;
                self.announced_people.insert(name.clone());
            }
            if self.people.get(name) != Some(state) {
                let topic = self.topics.presence(name);
                self.publish(topic, true, state.as_bytes().to_vec(), Tag::Other)
                    .await?;
            }
        }
        self.people = current;
        Ok(())
    }

    /// Each registered person's presence state now, as Home Assistant names it.
    fn presence_now(&self) -> BTreeMap<String, &'static str> {
        let replica = self.shared.state.replica();
        let consider_home_ms = self.shared.config.presence.consider_home_s * 1000;
        let answer = query::presence(
            &replica,
            wall_ms(),
            consider_home_ms,
            Completeness::default(),
        );
        answer
            .people
            .into_iter()
            .map(|person| {
                let state = if person.present { "home" } else { "not_home" };
                (person.name, state)
            })
            .collect()
    }

    /// A removed person: empty retained payloads delete their state and their tracker.
    async fn clear_person(&mut self, name: &str) -> Result<(), MqttError> {
        self.publish(self.topics.presence(name), true, Vec::new(), Tag::Other)
            .await?;
        if self.shared.config.mqtt.discovery {
            let (topic, _) = discovery::person_config(self.topics, name);
            self.publish(topic, true, Vec::new(), Tag::Other).await?;
        }
        self.announced_people.remove(name);
        Ok(())
    }

    /// Clean stop: `offline` (retained, since a clean DISCONNECT suppresses the last will),
    /// then DISCONNECT, waiting briefly for both to leave.
    async fn goodbye(&mut self, events: &mut Events) {
        let availability = self.topics.availability();
        if self
            .publish(availability, true, b"offline".to_vec(), Tag::Other)
            .await
            .is_err()
        {
            return;
        }
        if let Ok(client) = self.client() {
            let _ = client.disconnect().await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(event) = events.recv().await {
                match event {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        self.remove_acknowledged().await;
        tracing::info!("MQTT disconnected (availability: offline)");
    }
}

async fn wait_for_connack(events: &mut Events) -> Result<(), MqttError> {
    loop {
        match events.recv().await {
            Some(Ok(Event::Incoming(Incoming::ConnAck(_)))) => return Ok(()),
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(err.into()),
            None => return Err(MqttError::EventLoopStopped),
        }
    }
}

/// Aborts the event-loop task when the connection's state goes away.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
