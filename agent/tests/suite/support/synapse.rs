//! Test support for Matrix: a real Synapse homeserver (from PyPI, in the venv that
//! `deploy/synapse-venv.sh` builds under /var/cache/officemesh) on a free loopback port, with a
//! generated config (SQLite, no federation, registration by shared secret only, rate limits
//! lifted), and a small client-server API client for the test's human user.
//! Without the venv tests skip with a message — unless `CI=true`, where they fail.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

const SHARED_SECRET: &str = "officemesh-test-registration-secret";

/// Where `deploy/synapse-venv.sh` puts the venv (`OFFICEMESH_SYNAPSE_VENV` overrides).
pub fn venv_dir() -> PathBuf {
    std::env::var_os("OFFICEMESH_SYNAPSE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/officemesh/synapse-venv"))
}

/// The venv, or `None` after printing why the test skips. Panics under `CI=true`.
pub fn require_synapse(test: &str) -> Option<PathBuf> {
    if std::env::var("OFFICEMESH_SKIP_SERVICES").as_deref() == Ok("1") {
        eprintln!(
            "SKIPPED {test}: OFFICEMESH_SKIP_SERVICES=1 (services are covered by the native run)"
        );
        return None;
    }
    let venv = venv_dir();
    if venv.join("bin/register_new_matrix_user").is_file() {
        return Some(venv);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: no Synapse venv at {} and CI=true (deploy/synapse-venv.sh builds it; deploy/test.sh runs it as root)",
            venv.display()
        );
    }
    eprintln!(
        "SKIPPED {test}: no Synapse at {} (run deploy/synapse-venv.sh as root, or set OFFICEMESH_SYNAPSE_VENV)",
        venv.display()
    );
    None
}

/// A running Synapse.
pub struct Synapse {
    venv: PathBuf,
    pub url: String,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Synapse {
    /// Writes a config into `dir`, generates the signing key, starts the server and waits until
    /// it answers `/_matrix/client/versions`.
    pub fn start(venv: &Path, dir: &Path) -> Synapse {
        std::fs::create_dir_all(dir).expect("synapse dir");
        let port = free_port();
        let d = dir.display();
        let config = format!(
            r#"server_name: "localhost"
pid_file: {d}/homeserver.pid
listeners:
  - port: {port}
    tls: false
    type: http
    x_forwarded: false
    bind_addresses: ['127.0.0.1']
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: {d}/homeserver.db
media_store_path: {d}/media
signing_key_path: {d}/signing.key
registration_shared_secret: "{SHARED_SECRET}"
macaroon_secret_key: "officemesh-test-macaroon"
form_secret: "officemesh-test-form"
report_stats: false
enable_registration: false
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
presence:
  enabled: false
rc_message: {{per_second: 1000, burst_count: 1000}}
rc_joins:
  local: {{per_second: 1000, burst_count: 1000}}
  remote: {{per_second: 1000, burst_count: 1000}}
rc_login:
  address: {{per_second: 1000, burst_count: 1000}}
  account: {{per_second: 1000, burst_count: 1000}}
  failed_attempts: {{per_second: 1000, burst_count: 1000}}
rc_registration: {{per_second: 1000, burst_count: 1000}}
rc_invites:
  per_room: {{per_second: 1000, burst_count: 1000}}
  per_user: {{per_second: 1000, burst_count: 1000}}
"#
        );
        let config_path = dir.join("homeserver.yaml");
        std::fs::write(&config_path, config).expect("write homeserver.yaml");
        let python = venv.join("bin/python");
        let status = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&config_path)
            .arg("--generate-keys")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run synapse --generate-keys");
        assert!(status.success(), "synapse --generate-keys failed");
        let log = std::fs::File::create(dir.join("synapse.log")).expect("synapse log");
        let child = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start synapse");
        let mut synapse = Synapse {
            venv: venv.to_path_buf(),
            url: format!("http://127.0.0.1:{port}"),
            dir: dir.to_path_buf(),
            child: Some(child),
        };
        let start = Instant::now();
        loop {
            if let Some(child) = synapse.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("synapse exited ({status}); log:\n{}", synapse.log());
                }
            }
            let up = ureq::get(&format!("{}/_matrix/client/versions", synapse.url))
                .timeout(Duration::from_secs(2))
                .call()
                .is_ok();
            if up {
                return synapse;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "synapse did not come up; log:\n{}",
                synapse.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("synapse.log")).unwrap_or_default()
    }

    /// Registers `user` with the shared secret (Synapse's own `register_new_matrix_user`) and
    /// logs in: the user's client.
    pub fn register(&self, user: &str, password: &str) -> MatrixUser {
        let output = Command::new(self.venv.join("bin/register_new_matrix_user"))
            .args([
                "-u",
                user,
                "-p",
                password,
                "--no-admin",
                "-k",
                SHARED_SECRET,
            ])
            .arg(&self.url)
            .stdin(Stdio::null())
            .output()
            .expect("run register_new_matrix_user");
        assert!(
            output.status.success(),
            "register_new_matrix_user {user}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let (status, login) = call(
            &self.url,
            "POST",
            "/_matrix/client/v3/login",
            None,
            Some(json!({
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": user },
                "password": password,
            })),
        );
        assert_eq!(status, 200, "login {user}: {login}");
        MatrixUser {
            base: self.url.clone(),
            user_id: login["user_id"].as_str().expect("user_id").to_string(),
            token: login["access_token"].as_str().expect("token").to_string(),
            txn: std::cell::Cell::new(0),
            since: std::cell::RefCell::new(None),
            pending: std::cell::RefCell::new(Vec::new()),
        }
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A logged-in Matrix user (the test's human).
pub struct MatrixUser {
    pub base: String,
    pub user_id: String,
    pub token: String,
    txn: std::cell::Cell<u64>,
    /// Where this user's client is in its `/sync` stream.
    since: std::cell::RefCell<Option<String>>,
    /// Invitations seen and not yet joined.
    pending: std::cell::RefCell<Vec<(String, String)>>,
}

impl MatrixUser {
    pub fn call(&self, method: &str, path: &str, body: Option<Json>) -> Json {
        let (status, answer) = call(&self.base, method, path, Some(&self.token), body);
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer
    }

    /// Creates a private room inviting `invite`; returns its id.
    pub fn create_room(&self, name: &str, invite: &[&str]) -> String {
        let answer = self.call(
            "POST",
            "/_matrix/client/v3/createRoom",
            Some(json!({ "name": name, "preset": "private_chat", "invite": invite })),
        );
        answer["room_id"].as_str().expect("room_id").to_string()
    }

    /// Sends a text message; returns its event id.
    pub fn say(&self, room: &str, text: &str) -> String {
        let txn = self.txn.get() + 1;
        self.txn.set(txn);
        let answer = self.call(
            "PUT",
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.message/t{txn}",
                encode(room)
            ),
            Some(json!({ "msgtype": "m.text", "body": text })),
        );
        answer["event_id"].as_str().expect("event_id").to_string()
    }

    /// The room's last 200 message events, oldest first.
    pub fn messages(&self, room: &str) -> Vec<Json> {
        let answer = self.call(
            "GET",
            &format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=200",
                encode(room)
            ),
            None,
        );
        let mut events: Vec<Json> = answer["chunk"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|event| event["type"] == "m.room.message")
            .collect();
        events.reverse();
        events
    }

    /// Messages by `sender` that reply to `question`.
    pub fn replies_to(&self, room: &str, sender: &str, question: &str) -> Vec<Json> {
        self.messages(room)
            .into_iter()
            .filter(|event| {
                event["sender"] == sender
                    && event["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == question
            })
            .collect()
    }

    /// Creates a private room with encryption on from the start (as Element does), inviting
    /// `invite`; returns its id.
    pub fn create_encrypted_room(&self, name: &str, invite: &[&str]) -> String {
        let answer = self.call(
            "POST",
            "/_matrix/client/v3/createRoom",
            Some(json!({
                "name": name,
                "preset": "private_chat",
                "invite": invite,
                "initial_state": [{
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": { "algorithm": "m.megolm.v1.aes-sha2" }
                }]
            })),
        );
        answer["room_id"].as_str().expect("room_id").to_string()
    }

    /// Joins a room the user was invited to.
    pub fn join(&self, room: &str) {
        self.call(
            "POST",
            &format!("/_matrix/client/v3/join/{}", encode(room)),
            Some(json!({})),
        );
    }

    /// Sets the user's display name (anyone may pick any).
    pub fn set_display_name(&self, name: &str) {
        self.call(
            "PUT",
            &format!(
                "/_matrix/client/v3/profile/{}/displayname",
                encode(&self.user_id)
            ),
            Some(json!({ "displayname": name })),
        );
    }

    /// One `/sync` as a client does it: from where the last one ended (the first from the
    /// start). Returns the invitations seen in it: (room id, inviter).
    fn sync_invites(&self) -> Vec<(String, String)> {
        let path = match self.since.borrow().as_deref() {
            Some(since) => format!("/_matrix/client/v3/sync?timeout=0&since={}", encode(since)),
            None => "/_matrix/client/v3/sync?timeout=0".to_string(),
        };
        let sync = self.call("GET", &path, None);
        if let Some(next) = sync["next_batch"].as_str() {
            *self.since.borrow_mut() = Some(next.to_string());
        }
        let Some(invites) = sync["rooms"]["invite"].as_object() else {
            return Vec::new();
        };
        invites
            .iter()
            .map(|(room, state)| {
                let inviter = state["invite_state"]["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|e| {
                        e["type"] == "m.room.member" && e["state_key"] == self.user_id.as_str()
                    })
                    .and_then(|e| e["sender"].as_str())
                    .unwrap_or_default()
                    .to_string();
                (room.clone(), inviter)
            })
            .collect()
    }

    /// Rooms this user is invited to and has not joined, with who invited them.
    pub fn invites(&self) -> Vec<(String, String)> {
        let new = self.sync_invites();
        let mut pending = self.pending.borrow_mut();
        for invite in new {
            if !pending.contains(&invite) {
                pending.push(invite);
            }
        }
        let joined = self.joined_rooms();
        pending.retain(|(room, _)| !joined.contains(room));
        pending.clone()
    }

    /// The rooms this user has joined.
    pub fn joined_rooms(&self) -> Vec<String> {
        let answer = self.call("GET", "/_matrix/client/v3/joined_rooms", None);
        answer["joined_rooms"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect()
    }

    pub fn joined_members(&self, room: &str) -> Vec<String> {
        let answer = self.call(
            "GET",
            &format!("/_matrix/client/v3/rooms/{}/joined_members", encode(room)),
            None,
        );
        answer["joined"]
            .as_object()
            .map(|members| members.keys().cloned().collect())
            .unwrap_or_default()
    }
}

fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Json>,
) -> (u16, Json) {
    let mut request =
        ureq::request(method, &format!("{base}{path}")).timeout(Duration::from_secs(20));
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    let result = match body {
        Some(body) => request.send_json(body),
        None => request.call(),
    };
    match result {
        Ok(response) => (
            response.status(),
            response.into_json().unwrap_or(Json::Null),
        ),
        Err(ureq::Error::Status(status, response)) => {
            (status, response.into_json().unwrap_or(Json::Null))
        }
        Err(other) => panic!("{method} {path}: {other}"),
    }
}

/// Percent-encodes a path segment.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
