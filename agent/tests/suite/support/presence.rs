//! Network-namespace lab for presence tests (needs root, `ip`, `curl`): a switch namespace
//! with a bridge, "Pis" running the real agent and "phones" with fixed MACs on 10.233.9.0/24,
//! which exists only inside these namespaces. Namespaces carry a per-run tag and are deleted by
//! a Drop guard; agents are killed on drop. Used by `presence_lab.rs` and `presence_office.rs`
//! (never both at once: they hold `support::netns_lock()`, and the tags differ).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

pub const SUBNET: &str = "10.233.9";
pub const TOKEN: &str = "lab-token";

/// Prints why `test` skips, or panics under `CI=true` (a skip there is a failure).
pub fn skip(test: &str, reason: &str) {
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!("{test} cannot run under CI=true: {reason}");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

/// Skips `test` (returns false) unless root with `ip` and `curl`.
pub fn can_run(test: &str) -> bool {
    // The aarch64 run under qemu (deploy/test-aarch64.sh): namespaces and netlink would test
    // qemu-user, not the agent; the native run covers them (even with CI=true).
    if std::env::var("OFFICEMESH_SKIP_SERVICES").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED {test}: OFFICEMESH_SKIP_SERVICES=1 (network namespaces; covered by the native run)");
        return false;
    }
    if effective_uid() != Some(0) {
        skip(test, "needs root (network namespaces)");
        return false;
    }
    for tool in ["ip", "curl"] {
        if !has(tool) {
            skip(test, &format!("needs {tool}"));
            return false;
        }
    }
    true
}

pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

pub fn has(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

pub fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        output.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// The namespaces of one run; deleted on drop.
pub struct Lab {
    pub tag: String,
    created: Vec<String>,
}

impl Lab {
    pub fn new() -> Lab {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Lab {
            tag: format!("{:05x}", (std::process::id() ^ nanos) & 0xF_FFFF),
            created: Vec::new(),
        }
    }

    pub fn ns(&self, role: &str) -> String {
        format!("ompl{}{role}", self.tag)
    }

    pub fn add(&mut self, role: &str) -> String {
        let name = self.ns(role);
        ip(&["netns", "add", &name]);
        self.created.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        name
    }

    /// Plugs `role` into the switch as `lan0` with `host` and, for phones, a fixed MAC.
    pub fn plug(&mut self, role: &str, host: u8, mac: Option<&str>) -> String {
        self.plug_as(role, "lan0", host, mac)
    }

    /// Plugs `role` into the switch as `ifname` (`wlan0` for a Wi-Fi Pi).
    pub fn plug_as(&mut self, role: &str, ifname: &str, host: u8, mac: Option<&str>) -> String {
        let switch = self.ns("sw");
        let ns = self.add(role);
        let port = format!("p{role}");
        ip(&[
            "-n", &switch, "link", "add", &port, "type", "veth", "peer", "name", ifname, "netns",
            &ns,
        ]);
        ip(&["-n", &switch, "link", "set", &port, "master", "br0", "up"]);
        if let Some(mac) = mac {
            ip(&["-n", &ns, "link", "set", ifname, "address", mac]);
        }
        let address = format!("{SUBNET}.{host}/24");
        ip(&["-n", &ns, "addr", "add", &address, "dev", ifname]);
        ip(&["-n", &ns, "link", "set", ifname, "up"]);
        ns
    }

    /// The switch: a bridge in its own namespace.
    pub fn switch(&mut self) {
        let switch = self.add("sw");
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &switch, "link", "set", "br0", "up"]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// What one lab Pi runs with.
pub struct PiSpec<'a> {
    pub name: &'a str,
    pub host: u8,
    pub room: &'a str,
    /// The whole `[presence]` section (with its header), or "" for none.
    pub presence: &'a str,
    /// A fixed node id (the sweeper is the lowest), or a random one.
    pub node_id: Option<u64>,
}

/// One agent in a namespace.
pub struct Pi {
    pub ns: String,
    pub host: u8,
    pub data: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Pi {
    pub fn start(root: &Path, ns: &str, spec: &PiSpec<'_>, key: &Path) -> Pi {
        let (name, host) = (spec.name, spec.host);
        let dir = root.join(name);
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("agent dir");
        if let Some(id) = spec.node_id {
            std::fs::write(data.join("node_id"), format!("{id:016x}\n")).expect("node id");
        }
        let config = format!(
            "[node]\nname = \"{name}\"\nroom = \"{room}\"\n\n[storage]\ndata_dir = \"{data}\"\nbatch_ms = 200\nreadings_batch_ms = 200\n\n[api]\nlisten = \"{SUBNET}.{host}:8420\"\ntoken = \"{TOKEN}\"\n\n[gossip]\nlisten = \"{SUBNET}.{host}:7420\"\nseeds = [\"{SUBNET}.1:7420\"]\nkey_file = \"{key}\"\ninterval_ms = 200\n\n{presence}",
            room = spec.room,
            data = data.display(),
            key = key.display(),
            presence = spec.presence,
        );
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config).expect("write config");
        let log = dir.join("agent.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(env!("CARGO_BIN_EXE_officemesh"))
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start officemesh");
        let pi = Pi {
            ns: ns.to_string(),
            host,
            data,
            log,
            child: Some(child),
        };
        let healthy = eventually(Duration::from_secs(30), || {
            (pi.call("GET", "/healthz", None, None).0 == 200).then_some(())
        });
        assert!(healthy.is_some(), "{name} not healthy");
        pi
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{SUBNET}.{}:8420{path}", self.host)
    }

    /// An HTTP request from this Pi's own namespace: (status, body).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        curl(&self.ns, method, &self.url(path), token, body)
    }

    pub fn json(&self, path: &str) -> Json {
        let (status, body) = self.call("GET", path, Some(TOKEN), None);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    pub fn hash(&self) -> String {
        self.json("/v1/state/hash")["hash"]
            .as_str()
            .expect("hash")
            .to_string()
    }

    /// SIGTERM and wait: the store commits and checkpoints on a clean stop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("agent in {} did not stop on SIGTERM", self.ns);
        }
    }
}

impl Drop for Pi {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `curl` from inside `ns`: (status, body). Status 0 when the request failed.
pub fn curl(
    ns: &str,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut command = Command::new("ip");
    command.args([
        "netns",
        "exec",
        ns,
        "curl",
        "-s",
        "--max-time",
        "5",
        "-X",
        method,
    ]);
    command.args(["-w", "\n%{http_code}"]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    if let Some(body) = body {
        command.args(["-H", "Content-Type: application/json", "--data", body]);
    }
    let output = command.arg(url).output().expect("run curl");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    match text.rsplit_once('\n') {
        Some((body, code)) => (code.trim().parse().unwrap_or(0), body.to_string()),
        None => (0, text),
    }
}

pub fn eventually<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
