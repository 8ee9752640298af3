//! The agent's TOML configuration: one struct per `[section]`, every key with a default, unknown
//! keys refused. Every key is documented in `docs/config.md`; keep the two in step.
//!
//! Loading never touches the network or SQLite; it reads one file. A leaf: depends on no other
//! module of the agent (each section's own checks live beside it, e.g. `mqtt.rs`).

mod chat;
mod local_names;
mod mqtt;
mod ranges;

#[cfg(test)]
mod docs_tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A configuration that cannot be used; the message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

pub use chat::{MatrixConfig, MattermostConfig, SlackConfig};
pub use mqtt::BrokerUrl;

/// One value that cannot be used; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<String> for Invalid {
    fn from(message: String) -> Invalid {
        Invalid(message)
    }
}

impl From<&str> for Invalid {
    fn from(message: &str) -> Invalid {
        Invalid(message.to_string())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub node: NodeConfig,
    pub storage: StorageConfig,
    pub api: ApiConfig,
    pub gossip: GossipConfig,
    pub presence: PresenceConfig,
    pub sensors: Vec<SensorConfig>,
    pub mqtt: MqttConfig,
    pub chat: ChatConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Unique in the cluster. Empty: the host name.
    pub name: String,
    /// The room this Pi is in; readings are reported per room.
    pub room: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            name: String::new(),
            room: "office".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Where the SQLite database and the node identity live.
    pub data_dir: PathBuf,
    /// How often buffered writes are committed in one transaction (SD cards wear out).
    pub batch_ms: u64,
    /// Readings (and what peers sent) wait up to this long for a commit of their own.
    pub readings_batch_ms: u64,
    /// Raw samples are kept this many days.
    pub raw_retention_days: u32,
    /// 1-minute aggregates are kept this many days.
    pub aggregate_retention_days: u32,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("/var/lib/officemesh"),
            batch_ms: 1000,
            readings_batch_ms: 60_000,
            raw_retention_days: 7,
            aggregate_retention_days: 90,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// Bearer token required for writes when not empty.
    pub token: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8420)),
            token: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GossipConfig {
    pub listen: SocketAddr,
    /// Address peers use to reach this node. Empty: `listen`.
    pub advertise: String,
    /// Peers to contact at start and whenever isolated (`host:port`).
    pub seeds: Vec<String>,
    /// Keeps two offices' meshes apart: peers with another name are refused.
    pub cluster: String,
    /// The cluster key (made by `officemesh keygen`).
    pub key_file: PathBuf,
    /// Extra keys accepted from peers but never used to send (key rotation).
    pub accept_key_files: Vec<PathBuf>,
    /// No encryption or authentication. Development only; logged loudly.
    pub insecure: bool,
    /// Gossip round length.
    pub interval_ms: u64,
    /// Peers contacted per round.
    pub fanout: usize,
    /// Most bytes of entries sent in one delta.
    pub max_delta_bytes: usize,
    /// Peer stamps further ahead of our clock than this are refused until our clock catches up.
    pub max_clock_offset_ms: u64,
    /// Tombstones and dead nodes are forgotten after this long; a peer away longer is reset.
    pub tombstone_grace_s: u64,
    /// TEST ONLY: shifts this agent's wall clock (partition drills). Never set in production.
    pub test_clock_offset_ms: i64,
    /// Deadline of each gossip connect, handshake, frame read and frame write; a peer slower
    /// than this is disconnected.
    pub io_timeout_ms: u64,
    /// An inbound gossip connection quiet for this long between exchanges is closed (outbound
    /// ones are re-dialed after half of it).
    pub idle_timeout_ms: u64,
    /// Most inbound gossip connections served at once; more are closed at once.
    pub max_inbound_connections: usize,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 7420)),
            advertise: String::new(),
            seeds: Vec::new(),
            cluster: "office".into(),
            key_file: PathBuf::from("/etc/officemesh/cluster.key"),
            accept_key_files: Vec::new(),
            insecure: false,
            interval_ms: 1000,
            fanout: 3,
            max_delta_bytes: 64 * 1024,
            max_clock_offset_ms: 500,
            tombstone_grace_s: 7 * 24 * 3600,
            test_clock_offset_ms: 0,
            io_timeout_ms: 5000,
            idle_timeout_ms: 30_000,
            max_inbound_connections: 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PresenceConfig {
    /// Network interface to scan, or `"sim"` for simulated devices, or `""` for off; unset =
    /// the interface of the default route.
    pub interface: Option<String>,
    pub scan_interval_s: u64,
    /// A device counts as present this long after it was last seen.
    pub consider_home_s: u64,
    /// Number of simulated devices when `interface = "sim"`.
    pub sim_devices: usize,
    /// A device nobody registered is forgotten (MAC, IP, times) this long after it was last seen.
    pub forget_unknown_after_s: u64,
    /// Days of registered people's arrivals and departures kept; 0 = no history.
    pub history_days: u32,
    /// Widest block swept, as a prefix length (24 = 254 addresses), whatever the subnet.
    pub sweep_prefix: u8,
    /// Pause per ARP packet a probe may cause (100 = at most 10 ARP packets a second).
    pub probe_pace_ms: u64,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig {
            interface: None,
            scan_interval_s: 30,
            consider_home_s: 600,
            sim_devices: 6,
            forget_unknown_after_s: 86_400,
            history_days: 0,
            sweep_prefix: 24,
            probe_pace_ms: 100,
        }
    }
}

/// One `[[sensors]]` entry: the sensors crate's spec (driver, bus options, processing), so the
/// agent and `officemesh_sensors::build_sensor` read the same keys. See `docs/sensors.md`.
pub type SensorConfig = officemesh_sensors::SensorSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:1883` or `mqtts://host:8883`; empty = MQTT off. See `docs/mqtt.md`.
    pub url: String,
    /// Home Assistant discovery topic prefix.
    pub discovery_prefix: String,
    /// Publish Home Assistant discovery config messages.
    pub discovery: bool,
    /// First level of every state topic (`<base_topic>/<node>/<sensor>/<quantity>`).
    pub base_topic: String,
    /// MQTT client id. Empty: `officemesh-<node id>`.
    pub client_id: String,
    /// Broker user name (empty: none).
    pub username: String,
    /// Broker password (used only with `username`).
    pub password: String,
    /// PEM file of the CA(s) that sign the broker's certificate (`mqtts://`). Empty: the
    /// system's trusted roots.
    pub ca_file: PathBuf,
    /// MQTT keep-alive interval.
    pub keep_alive_s: u64,
    /// First reconnect delay; doubles per failed attempt (with jitter) up to `reconnect_max_ms`.
    pub reconnect_min_ms: u64,
    /// Longest reconnect delay.
    pub reconnect_max_ms: u64,
    /// Most readings kept while the broker is unreachable (oldest dropped first, counted).
    pub buffer_max: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: String::new(),
            discovery_prefix: "homeassistant".into(),
            discovery: true,
            base_topic: "officemesh".into(),
            client_id: String::new(),
            username: String::new(),
            password: String::new(),
            ca_file: PathBuf::new(),
            keep_alive_s: 30,
            reconnect_min_ms: 1000,
            reconnect_max_ms: 60_000,
            buffer_max: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    pub slack_signing_secret: String,
    pub mattermost_token: String,
    pub alert_webhook: String,
    /// A room must stay outside its target this long (and back inside it this long) before an
    /// alert is raised (cleared).
    pub alert_after_s: u64,
    /// The name people address the bot by in chat rooms ("officemesh, who's in?").
    pub bot_name: String,
    /// The room/channel the connected chat adapters post alerts into (Matrix room id or alias,
    /// Slack channel id, Mattermost channel id); empty: alerts are not posted there.
    pub alert_room: String,
    /// Seconds the next node in a message's ranking waits for the bot's reply before answering.
    pub handover_s: u64,
    pub matrix: Option<chat::MatrixConfig>,
    pub slack: Option<chat::SlackConfig>,
    pub mattermost: Option<chat::MattermostConfig>,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            slack_signing_secret: String::new(),
            mattermost_token: String::new(),
            alert_webhook: String::new(),
            alert_after_s: 300,
            bot_name: chat::DEFAULT_BOT_NAME.to_string(),
            alert_room: String::new(),
            handover_s: chat::DEFAULT_HANDOVER_S,
            matrix: None,
            slack: None,
            mattermost: None,
        }
    }
}

impl ChatConfig {
    /// Checks the bot's name and the adapter sections that are present.
    fn validate(&self) -> Result<(), Invalid> {
        let name = self.bot_name.trim();
        if name.is_empty() || name.split_whitespace().count() != 1 {
            return Err(
                format!("chat.bot_name must be one word, got \"{}\"", self.bot_name).into(),
            );
        }
        if let Some(matrix) = &self.matrix {
            matrix.validate()?;
        }
        if let Some(slack) = &self.slack {
            slack.validate()?;
        }
        if let Some(mattermost) = &self.mattermost {
            mattermost.validate()?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses TOML text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|err| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: describe_toml_error(text, &err),
        })?;
        config
            .validate()
            .map_err(|Invalid(message)| ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            })?;
        Ok(config)
    }

    /// The configuration used when no file is given: everything local to the current directory,
    /// simulated sensors and devices, gossip on loopback with a key generated in the data dir.
    pub fn local_default(data_dir: &Path) -> Config {
        let mut config = Config::default();
        config.storage.data_dir = data_dir.to_path_buf();
        config.gossip.listen = SocketAddr::from(([127, 0, 0, 1], 7420));
        config.gossip.key_file = data_dir.join("cluster.key");
        config.presence.interface = Some("sim".into());
        config.sensors = vec![SensorConfig::default()];
        config
    }

    /// Checks values serde cannot: ranges and relations between keys.
    fn validate(&self) -> Result<(), Invalid> {
        ranges::check(self)?;
        self.check_positive()?;
        if !(16..=32).contains(&self.presence.sweep_prefix) {
            return Err("presence.sweep_prefix must be between 16 and 32".into());
        }
        if self.gossip.max_delta_bytes < 1024 {
            return Err("gossip.max_delta_bytes must be at least 1024".into());
        }
        if self.gossip.cluster.trim().is_empty() {
            return Err("gossip.cluster must not be empty".into());
        }
        mqtt::validate(&self.mqtt)?;
        local_names::check(self, local_names::STATIC_BUILD)?;
        self.chat.validate()?;
        // The state's own rule (`state::limits::check_label`): a name it would refuse on every
        // write is refused here, at load, with the key and the fix.
        check_name("node.room", &self.node.room)?;
        if !self.node.name.is_empty() {
            check_name("node.name", &self.node.name)?;
        }
        self.check_sensors()
    }

    /// The counts and durations that must not be 0.
    fn check_positive(&self) -> Result<(), Invalid> {
        let positive = [
            ("gossip.interval_ms", self.gossip.interval_ms),
            ("gossip.fanout", self.gossip.fanout as u64),
            ("gossip.io_timeout_ms", self.gossip.io_timeout_ms),
            ("gossip.idle_timeout_ms", self.gossip.idle_timeout_ms),
            (
                "gossip.max_inbound_connections",
                self.gossip.max_inbound_connections as u64,
            ),
            ("storage.batch_ms", self.storage.batch_ms),
            ("presence.scan_interval_s", self.presence.scan_interval_s),
            ("presence.consider_home_s", self.presence.consider_home_s),
            (
                "presence.forget_unknown_after_s",
                self.presence.forget_unknown_after_s,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(format!("{key} must be greater than 0").into());
            }
        }
        Ok(())
    }

    /// Each `[[sensors]]` entry: a valid, unique name, its own checks, a poll interval.
    fn check_sensors(&self) -> Result<(), Invalid> {
        let mut names = std::collections::BTreeSet::new();
        for (index, sensor) in self.sensors.iter().enumerate() {
            check_name("sensor name", &sensor.name)
                .map_err(|e| format!("sensors[{index}].name: {e}"))?;
            if !names.insert(sensor.name.as_str()) {
                return Err(format!(
                    "sensors[{index}].name: '{}' is used twice; sensor names must be unique",
                    sensor.name
                )
                .into());
            }
            sensor
                .validate()
                .map_err(|e| format!("sensors[{index}]: {e}"))?;
            if sensor.poll_interval_s == 0 {
                return Err(
                    format!("sensors[{index}].poll_interval_s must be greater than 0").into(),
                );
            }
        }
        Ok(())
    }
}

/// A name (room, node, sensor) as the replicated state accepts it; the message names `key`
/// and says what to write instead.
fn check_name(key: &'static str, text: &str) -> Result<(), Invalid> {
    crate::state::limits::check_label(key, text).map_err(|e| Invalid(e.to_string()))
}

/// toml's message plus the line it points at, so "unknown field" says where.
fn describe_toml_error(text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim().to_string();
    match err.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let snippet = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("line {line} (`{snippet}`): {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/officemesh/config.toml"))
    }

    /// Every key of every section (except `[[sensors]]`, documented in docs/sensors.md) has a
    /// row in docs/config.md.
    #[test]
    fn every_config_key_is_documented() {
        let docs = include_str!("../../../docs/config.md");
        let mut config = Config::default();
        config.sensors.clear();
        let value = toml::Value::try_from(&config).expect("config serializes");
        let tables = value.as_table().expect("a table");
        let mut missing = Vec::new();
        for (section, body) in tables {
            let Some(keys) = body.as_table() else {
                continue;
            };
            if !docs.contains(&format!("## `[{section}]`")) {
                missing.push(format!("[{section}]"));
            }
            for key in keys.keys() {
                if !docs.contains(&format!("| `{key}` |")) {
                    missing.push(format!("{section}.{key}"));
                }
            }
        }
        // Optional keys that serialize to nothing still need a row.
        for key in ["password", "username", "ca_file"] {
            if !docs.contains(&format!("| `{key}` |")) {
                missing.push(format!("mqtt.{key}"));
            }
        }
        assert!(missing.is_empty(), "undocumented config keys: {missing:?}");
    }

    #[test]
    fn empty_file_gives_documented_defaults() {
        let config = parse("").expect("empty is valid");
        assert_eq!(config.api.listen.port(), 8420);
        assert_eq!(config.gossip.listen.port(), 7420);
        assert_eq!(config.gossip.interval_ms, 1000);
        assert_eq!(config.presence.consider_home_s, 600);
        assert_eq!(config.presence.forget_unknown_after_s, 86_400);
        assert_eq!(config.presence.history_days, 0);
        assert_eq!(config.storage.raw_retention_days, 7);
        assert_eq!(config.storage.aggregate_retention_days, 90);
    }

    #[test]
    fn design_example_parses() {
        let text = include_str!("../../../config.example.toml");
        let config = parse(text).expect("config.example.toml must stay valid");
        assert_eq!(config.node.room, "lobby");
        assert_eq!(config.sensors.len(), 1);
    }

    #[test]
    fn unknown_key_names_the_key_the_line_and_the_file() {
        let err = parse("[gossip]\ninterval_ms = 500\nintervall = 3\n").expect_err("typo refused");
        let text = err.to_string();
        assert!(text.contains("/etc/officemesh/config.toml"), "{text}");
        assert!(text.contains("intervall"), "{text}");
        assert!(text.contains("line 3"), "{text}");
        let err = parse("[nodes]\nname = 'x'\n").expect_err("unknown section refused");
        assert!(err.to_string().contains("nodes"), "{err}");
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let cases = [
            ("[gossip]\ninterval_ms = 0\n", "gossip.interval_ms"),
            ("[api]\nlisten = 'not an address'\n", "listen"),
            ("[gossip]\nfanout = -1\n", "fanout"),
            ("[node]\nroom = 'a/b'\n", "node.room"),
            ("[node]\nroom = 'lobby '\n", "use 'lobby'"),
            ("[node]\nroom = 'meeting  room'\n", "node.room"),
            ("[node]\nname = 'pi\u{200b}1'\n", "node.name"),
            (
                "[[sensors]]\nname = 'desk '\n",
                "sensors[0].name: sensor name: 'desk ' has surrounding or repeated whitespace; use 'desk'",
            ),
            (
                "[[sensors]]\nname='a'\n[[sensors]]\nname='a'\n",
                "sensors[1].name",
            ),
        ];
        for (text, key) in cases {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(key), "{text:?} → {err}");
        }
    }
}
