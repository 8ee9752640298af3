//! Test support: real `officemesh` agent processes on loopback with their own data directories.
//! `TestAgent::start` writes a config, starts the binary, and waits for `/healthz`.
//! Submodules: `mqtt` (a real Mosquitto), `synapse` (a real Synapse), `chat_fakes` (Slack and
//! Mattermost stand-ins). `netns_lock` serialises the tests that must not overlap.

#![allow(dead_code)]

pub mod chat_fakes;
pub mod mqtt;
pub mod presence;
pub mod synapse;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

/// A free TCP port on 127.0.0.1 (bound then released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Held for the whole of a test that must not overlap another such test in this one process:
/// the network-namespace labs (`presence_lab`, `drill_lab`) and `hostile_lan`'s root tests (a
/// tmpfs mount, 1,200 sockets of this process). A test that panicked while holding it does not
/// stop the next one (the poison is ignored: the lock guards no data).
pub fn netns_lock() -> MutexGuard<'static, ()> {
    static LAB: Mutex<()> = Mutex::new(());
    LAB.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes a new cluster key to `path` with `officemesh keygen`.
pub fn keygen(path: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_officemesh"))
        .args(["keygen", "--out"])
        .arg(path)
        .status()
        .expect("run keygen");
    assert!(status.success(), "keygen");
}

/// A running agent process.
pub struct TestAgent {
    pub name: String,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub api: String,
    pub api_port: u16,
    pub gossip_port: u16,
    child: Option<Child>,
    log_path: PathBuf,
    /// `api.token` (empty: none); `get` sends it.
    pub token: String,
    /// The binary `spawn` runs: this build's unless a test sets another (an older release).
    pub bin: PathBuf,
}

/// Extra TOML appended to the generated config (sections must not repeat the generated ones:
/// [node], [storage], [api], [gossip], [presence]).
pub struct AgentSpec<'a> {
    pub name: &'a str,
    pub room: &'a str,
    pub api_token: &'a str,
    pub gossip_extra: &'a str,
    pub extra: &'a str,
    pub ip: &'a str,
    /// Fixed ports (for clusters whose seeds must be known up front); default: free ports.
    pub api_port: Option<u16>,
    pub gossip_port: Option<u16>,
    /// `[presence] interface`: `"sim"` by default; `""` turns presence off.
    pub presence_interface: &'a str,
    /// `storage.batch_ms` (200 by default here).
    pub batch_ms: u64,
    /// `storage.readings_batch_ms`; `None`: the same as `batch_ms`.
    pub readings_batch_ms: Option<u64>,
}

impl Default for AgentSpec<'_> {
    fn default() -> Self {
        AgentSpec {
            name: "pi-test",
            room: "lobby",
            api_token: "",
            gossip_extra: "insecure = true",
            extra: "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n",
            ip: "127.0.0.1",
            api_port: None,
            gossip_port: None,
            presence_interface: "sim",
            batch_ms: 200,
            readings_batch_ms: None,
        }
    }
}

impl TestAgent {
    pub fn start(root: &Path, spec: AgentSpec<'_>) -> TestAgent {
        TestAgent::start_with(root, spec, Path::new(env!("CARGO_BIN_EXE_officemesh")))
    }

    /// `start`, running the agent binary at `bin`.
    pub fn start_with(root: &Path, spec: AgentSpec<'_>, bin: &Path) -> TestAgent {
        let dir = root.join(spec.name);
        std::fs::create_dir_all(&dir).expect("agent dir");
        let api_port = spec.api_port.unwrap_or_else(free_port);
        let gossip_port = spec.gossip_port.unwrap_or_else(free_port);
        let config = format!(
            "[node]\nname = \"{name}\"\nroom = \"{room}\"\n\n[storage]\ndata_dir = \"{data}\"\nbatch_ms = {batch_ms}\nreadings_batch_ms = {readings_batch_ms}\n\n[api]\nlisten = \"{ip}:{api_port}\"\ntoken = \"{token}\"\n\n[gossip]\nlisten = \"{ip}:{gossip_port}\"\n{gossip_extra}\n\n[presence]\ninterface = \"{presence}\"\nscan_interval_s = 1\n\n{extra}",
            name = spec.name,
            room = spec.room,
            data = dir.join("data").display(),
            ip = spec.ip,
            token = spec.api_token,
            gossip_extra = spec.gossip_extra,
            extra = spec.extra,
            presence = spec.presence_interface,
            batch_ms = spec.batch_ms,
            readings_batch_ms = spec.readings_batch_ms.unwrap_or(spec.batch_ms),
        );
        // An earlier release refuses keys it does not know: its config holds only the keys it
        // knew, as a Pi's does before an upgrade (`storage.readings_batch_ms` came later).
        let config = if bin == Path::new(env!("CARGO_BIN_EXE_officemesh")) {
            config
        } else {
            config.replace(&format!("readings_batch_ms = {}\n", spec.batch_ms), "")
        };
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config).expect("write config");
        let mut agent = TestAgent {
            name: spec.name.to_string(),
            api: format!("http://{}:{api_port}", spec.ip),
            api_port,
            gossip_port,
            log_path: dir.join("agent.log"),
            dir,
            config_path,
            child: None,
            token: spec.api_token.to_string(),
            bin: bin.to_path_buf(),
        };
        agent.spawn();
        agent
    }

    /// Starts (or restarts) the process and waits until it answers.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("log file");
        let child = Command::new(&self.bin)
            .arg("run")
            .arg("--config")
            .arg(&self.config_path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start officemesh");
        self.child = Some(child);
        self.wait_healthy(Duration::from_secs(30));
    }

    fn wait_healthy(&mut self, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "agent {} exited early ({status}); log:\n{}",
                        self.name,
                        self.log()
                    );
                }
            }
            if get(&format!("{}/healthz", self.api)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "agent {} not healthy after {limit:?}; log:\n{}",
            self.name,
            self.log()
        );
    }

    /// The agent's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!(
                    "agent {} did not stop on SIGTERM; log:\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// GET with the agent's token (when it has one), returning the JSON of a 2xx answer.
    pub fn get(&self, path: &str) -> Json {
        let url = format!("{}{path}", self.api);
        if self.token.is_empty() {
            return get(&url).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        }
        let (status, body) = send("GET", &url, Some(&self.token), None);
        assert!((200..300).contains(&status), "GET {path}: {status} {body}");
        body
    }

    /// The path of the agent's log file (stderr).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn state_hash(&self) -> String {
        self.get("/v1/state/hash")["hash"]
            .as_str()
            .expect("hash")
            .to_string()
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until every agent's `GET /v1/nodes` lists every agent's adapter for `platform` as
/// connected: from then on every Pi ranks the same Pis for chat turns, so a question is
/// answered once. (While one Pi has announced and another not yet, both may answer.)
pub fn wait_chat_turns(agents: &[TestAgent], platform: &str) {
    let ids: Vec<Json> = agents
        .iter()
        .map(|agent| agent.get("/v1/nodes")["self"].clone())
        .collect();
    let all_connected = |agent: &TestAgent| {
        let nodes = agent.get("/v1/nodes")["nodes"].clone();
        ids.iter().all(|id| {
            nodes.as_array().is_some_and(|rows| {
                rows.iter().any(|row| {
                    row["node"] == *id
                        && row["chat"]
                            .as_array()
                            .is_some_and(|chat| chat.iter().any(|p| p == platform))
                })
            })
        })
    };
    for agent in agents {
        eventually(Duration::from_secs(60), || {
            all_connected(agent).then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "{} never held every {platform} adapter as connected: {}\nlog:\n{}",
                agent.name,
                agent.get("/v1/nodes"),
                agent.log()
            )
        });
    }
}

/// GET returning the JSON body of a 2xx answer.
pub fn get(url: &str) -> Result<Json, String> {
    ureq::get(url)
        .timeout(Duration::from_secs(5))
        .call()
        .map_err(|e| e.to_string())?
        .into_json()
        .map_err(|e| e.to_string())
}

/// Sends a request with an optional raw body; returns (status, JSON body).
pub fn send(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, Json) {
    let mut request = ureq::request(method, url)
        .timeout(Duration::from_secs(10))
        .set("Content-Type", "application/json");
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    let result = match body {
        Some(body) => request.send_string(body),
        None => request.call(),
    };
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(other) => panic!("{method} {url}: {other}"),
    };
    let status = response.status();
    let json = response.into_json().unwrap_or(Json::Null);
    (status, json)
}

/// Polls `check` until it returns Some or `limit` passes.
pub fn eventually<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads a child's stdout lines (for tests that drive the CLI).
pub fn lines(output: &[u8]) -> Vec<String> {
    BufReader::new(output)
        .lines()
        .map_while(Result::ok)
        .collect()
}

/// One node of a test mesh.
pub struct MeshNode<'a> {
    pub name: &'a str,
    pub room: &'a str,
    /// A loopback address of its own (127.0.0.x), so nodes are told apart by address.
    pub ip: &'a str,
}

/// Starts a mesh of real agents sharing a cluster key (made by `officemesh keygen`), seeded
/// with the first node, gossiping every `interval_ms`, and waits until every node sees every
/// other node alive. `extra` is appended to every config (sensors, chat, …).
pub fn start_mesh(
    root: &Path,
    nodes: &[MeshNode<'_>],
    interval_ms: u64,
    extra: &str,
) -> Vec<TestAgent> {
    let extras: Vec<&str> = nodes.iter().map(|_| extra).collect();
    start_mesh_each(root, nodes, interval_ms, &extras)
}

/// [`start_mesh`] with a config tail of its own for each node (`extras[i]` for `nodes[i]`).
pub fn start_mesh_each(
    root: &Path,
    nodes: &[MeshNode<'_>],
    interval_ms: u64,
    extras: &[&str],
) -> Vec<TestAgent> {
    let key = root.join("cluster.key");
    keygen(&key);
    let ports: Vec<u16> = nodes.iter().map(|_| free_port()).collect();
    let seed = format!("{}:{}", nodes[0].ip, ports[0]);
    let agents: Vec<TestAgent> = nodes
        .iter()
        .zip(&ports)
        .zip(extras)
        .map(|((node, port), extra)| {
            let gossip = format!(
                "seeds = [\"{seed}\"]\nkey_file = \"{}\"\ninterval_ms = {interval_ms}\n",
                key.display()
            );
            TestAgent::start(
                root,
                AgentSpec {
                    name: node.name,
                    room: node.room,
                    gossip_extra: &gossip,
                    extra,
                    ip: node.ip,
                    gossip_port: Some(*port),
                    ..AgentSpec::default()
                },
            )
        })
        .collect();
    let everyone_alive = eventually(Duration::from_secs(30), || {
        agents
            .iter()
            .all(|agent| {
                let rows = agent.get("/v1/nodes")["nodes"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                rows.len() == nodes.len()
                    && rows
                        .iter()
                        .all(|n| n["status"] == "self" || n["status"] == "alive")
            })
            .then_some(())
    });
    assert!(everyone_alive.is_some(), "the mesh did not form");
    agents
}
