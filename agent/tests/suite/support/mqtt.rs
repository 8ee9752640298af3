//! Test support for MQTT: a real Mosquitto broker on a free loopback port with a generated
//! config file, and a rumqttc subscriber that records every message it receives.
//! Without the `mosquitto` binary tests skip with a message — unless `CI=true`, where they fail.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

/// The mosquitto binary, if installed (`PATH`, then `/usr/sbin`).
pub fn mosquitto_binary() -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("mosquitto"))
            .find(|candidate| candidate.is_file())
    });
    from_path.or_else(|| {
        ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
            .iter()
            .map(PathBuf::from)
            .find(|candidate| candidate.is_file())
    })
}

/// The binary, or `None` after printing why the test skips. Panics under `CI=true`.
pub fn require_mosquitto(test: &str) -> Option<PathBuf> {
    if std::env::var("OFFICEMESH_SKIP_SERVICES").as_deref() == Ok("1") {
        eprintln!("SKIPPED {}: OFFICEMESH_SKIP_SERVICES=1 (cross-architecture run under qemu; services are covered by the native run)", test);
        return None;
    }
    match mosquitto_binary() {
        Some(binary) => Some(binary),
        None => {
            if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
                panic!("{test}: the mosquitto binary is missing and CI=true (install the Debian package `mosquitto`; deploy/test.sh does as root)");
            }
            eprintln!("SKIPPED {test}: mosquitto is not installed (apt-get install mosquitto)");
            None
        }
    }
}

/// A running Mosquitto broker. `stop` then `start` keeps the port and the persisted sessions.
pub struct Mosquitto {
    binary: PathBuf,
    pub port: u16,
    pub dir: PathBuf,
    config: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts a broker on a free port, with persistence in `dir` (so a persistent subscriber's
    /// session and queued messages survive `stop`/`start`). `extra` is appended to the config.
    pub fn start(binary: &Path, dir: &Path, extra: &str) -> Mosquitto {
        Mosquitto::start_with(binary, dir, "", extra)
    }

    /// Like `start`, with `prelude` placed before the first listener (global options such as
    /// `per_listener_settings true`).
    pub fn start_with(binary: &Path, dir: &Path, prelude: &str, extra: &str) -> Mosquitto {
        std::fs::create_dir_all(dir).expect("broker dir");
        let port = free_port();
        let config = dir.join("mosquitto.conf");
        let text = format!(
            "{prelude}\nlistener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nautosave_interval 1\nlog_dest file {}\nlog_type all\n# Running as root: stay root so the temp dir stays writable (ignored otherwise).\nuser root\n{extra}\n",
            dir.display(),
            dir.join("mosquitto.log").display(),
        );
        std::fs::write(&config, text).expect("write mosquitto.conf");
        let mut broker = Mosquitto {
            binary: binary.to_path_buf(),
            port,
            dir: dir.to_path_buf(),
            config,
            child: None,
        };
        broker.spawn();
        broker
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the process and waits until the port accepts connections.
    pub fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("mosquitto exited ({status}); log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "mosquitto not listening on {}; log:\n{}",
            self.port,
            self.log()
        );
    }

    /// SIGTERM (mosquitto saves its persistent sessions) and wait.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub use super::free_port;

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    pub at: Instant,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {}", self.topic, self.text()))
    }
}

/// A subscriber recording everything under `filters` (QoS 1). With `persistent`, it uses a
/// fixed client id and `clean_session = false`, so messages published while it is cut off
/// (broker restart) are queued for it by the broker. Reconnects by itself.
pub struct Subscriber {
    pub client: Client,
    messages: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Subscriber {
    pub fn connect(port: u16, client_id: &str, filters: &[&str], persistent: bool) -> Subscriber {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_clean_session(!persistent);
        let (client, mut connection) = Client::new(options, 100);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, stopping, subscriber, filters) = (
            messages.clone(),
            stop.clone(),
            client.clone(),
            filters.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        );
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            for event in connection.iter() {
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        for filter in &filters {
                            let _ = subscriber.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        sink.lock().expect("lock").push(Received {
                            topic: publish.topic.clone(),
                            payload: publish.payload.to_vec(),
                            retain: publish.retain,
                            at: Instant::now(),
                        });
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("subscriber connected and subscribed");
        Subscriber {
            client,
            messages,
            stop,
            thread: Some(thread),
        }
    }

    /// Everything received so far, in arrival order.
    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().expect("lock").clone()
    }

    pub fn on(&self, topic: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|m| m.topic == topic)
            .collect()
    }

    /// Waits until `check` over the received messages returns Some.
    pub fn wait_for<T>(
        &self,
        what: &str,
        limit: Duration,
        mut check: impl FnMut(&[Received]) -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Some(value) = check(&self.messages()) {
                return value;
            }
            if start.elapsed() > limit {
                let topics: Vec<String> = self
                    .messages()
                    .iter()
                    .map(|m| format!("{} = {}", m.topic, m.text()))
                    .collect();
                panic!(
                    "timed out after {limit:?} waiting for {what}; received {} messages:\n{}",
                    topics.len(),
                    topics.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.client.disconnect();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `GET /metrics` as text.
pub fn metrics_text(api: &str) -> String {
    ureq::get(&format!("{api}/metrics"))
        .timeout(Duration::from_secs(5))
        .call()
        .expect("GET /metrics")
        .into_string()
        .expect("metrics text")
}

/// The value of an unlabelled sample in an exposition.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            (series == name).then(|| value.parse().ok())?
        })
}
