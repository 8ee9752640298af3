//! Room-target alerts end to end: a real agent with simulated sensors, a target its temperature
//! certainly violates, a short `chat.alert_after_s`, and a local HTTP receiver on 127.0.0.1 that
//! counts webhook POSTs. The alert is posted once (not again on later ticks, nor after a
//! restart, because the replicated `alert/` entry says it is raised), and once more when the
//! room is back inside its target, or when its target is removed in chat (the alert loop posts
//! that clear). Then three agents in one room: posted once per cluster, also while the posting
//! node is away.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value as Json;
use support::{eventually, send, start_mesh, AgentSpec, MeshNode, TestAgent};

/// A webhook receiver: every POST body it got, in order.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let url = format!(
            "http://{}/hooks/alerts",
            listener.local_addr().expect("addr")
        );
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let sink = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                if request_line.starts_with("POST /hooks/alerts ") {
                    sink.lock()
                        .expect("lock")
                        .push(String::from_utf8_lossy(&body).into_owned());
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        Receiver { url, bodies }
    }

    fn posts(&self) -> Vec<String> {
        self.bodies.lock().expect("lock").clone()
    }

    fn wait_for(&self, count: usize) -> Vec<String> {
        eventually(Duration::from_secs(30), || {
            let posts = self.posts();
            (posts.len() >= count).then_some(posts)
        })
        .unwrap_or_else(|| panic!("expected {count} webhook posts, got {:?}", self.posts()))
    }
}

fn text_of(body: &str) -> String {
    let json: Json = serde_json::from_str(body).expect("webhook body is JSON");
    json["text"].as_str().expect("a text field").to_string()
}

#[test]
fn alert_posted_once_and_cleared_once() {
    let receiver = Receiver::start();
    let root = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n\n[chat]\nalert_webhook = \"{}\"\nalert_after_s = 1\n",
        receiver.url
    );
    let mut agent = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-alerts",
            room: "lobby",
            extra: &extra,
            ..AgentSpec::default()
        },
    );
    let node = agent.get("/healthz")["node"]
        .as_str()
        .expect("node id")
        .to_string();
    let target_url = format!("{}/v1/targets/lobby", agent.api);

    // The simulated room is around 20 °C: 5 ± 1 is certainly violated.
    let (status, body) = send(
        "PUT",
        &target_url,
        None,
        Some(r#"{"quantity": "temperature", "value": 5, "tolerance": 1}"#),
    );
    assert_eq!(status, 200, "{body}");
    let posts = receiver.wait_for(1);
    let raised = text_of(&posts[0]);
    assert!(
        raised.contains("lobby temperature is at") && raised.contains("above its target 5 ± 1 °C"),
        "{raised}"
    );
    // The post goes out first, then the alert is recorded: wait for the record.
    let alert = eventually(Duration::from_secs(10), || {
        let alerts = agent.get("/v1/alerts");
        let first = alerts["alerts"].as_array()?.first()?.clone();
        (first["raised"] == true).then_some(first)
    })
    .expect("the raised alert is recorded");
    assert_eq!(alert["by"], node.as_str());
    assert_eq!(alert["room"], "lobby");
    let status_reply = send(
        "POST",
        &format!("{}/v1/chat", agent.api),
        None,
        Some(r#"{"user": "ada", "text": "status"}"#),
    )
    .1;
    assert!(
        status_reply["text"]
            .as_str()
            .unwrap_or("")
            .contains("above its target 5 "),
        "{status_reply}"
    );

    // Later ticks (the loop runs every 0.5 s here) and a restart do not post it again.
    std::thread::sleep(Duration::from_secs(3));
    agent.stop();
    agent.spawn();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(receiver.posts().len(), 1, "{:?}", receiver.posts());

    // Back inside the target: cleared, posted once.
    let (status, body) = send(
        "PUT",
        &target_url,
        None,
        Some(r#"{"quantity": "temperature", "value": 21, "tolerance": 30}"#),
    );
    assert_eq!(status, 200, "{body}");
    let posts = receiver.wait_for(2);
    let cleared = text_of(&posts[1]);
    assert!(
        cleared.contains("lobby temperature is back to normal"),
        "{cleared}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(receiver.posts().len(), 2, "{:?}", receiver.posts());
    eventually(Duration::from_secs(10), || {
        (agent.get("/v1/alerts")["alerts"][0]["raised"] == false).then_some(())
    })
    .expect("the cleared alert is recorded");
}

/// A target removed by chat while its alert is open: chat writes the target's tombstone only,
/// and the alert loop clears the orphaned alert and posts that once (writing the cleared alert
/// with the removal would have recorded it without ever posting it).
#[test]
fn a_target_removed_in_chat_posts_its_alert_cleared_once() {
    let receiver = Receiver::start();
    let root = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n\n[chat]\nalert_webhook = \"{}\"\nalert_after_s = 1\n",
        receiver.url
    );
    let agent = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-removal",
            room: "lobby",
            extra: &extra,
            ..AgentSpec::default()
        },
    );
    let ask = |text: &str| {
        let body = serde_json::json!({ "user": "ada", "text": text }).to_string();
        let (status, reply) = send("POST", &format!("{}/v1/chat", agent.api), None, Some(&body));
        assert_eq!(status, 200, "{text:?} → {reply}");
        reply["text"].as_str().unwrap_or("").to_string()
    };
    // The simulated room is around 20 °C: 5 ± 1 is certainly violated.
    let set = ask("set lobby temperature to 5");
    assert!(set.contains("now 5 °C"), "{set}");
    let posts = receiver.wait_for(1);
    assert!(
        text_of(&posts[0]).contains("lobby temperature is at"),
        "{posts:?}"
    );
    eventually(Duration::from_secs(10), || {
        (agent.get("/v1/alerts")["alerts"][0]["raised"] == true).then_some(())
    })
    .expect("the raised alert is recorded");

    let removed = ask("remove the lobby target");
    assert!(
        removed.contains("removed the temperature target for lobby"),
        "{removed}"
    );
    assert!(removed.contains("Its open alert is cleared"), "{removed}");
    let posts = receiver.wait_for(2);
    let cleared = text_of(&posts[1]);
    assert!(
        cleared.contains("lobby temperature: the target was removed, alert cleared"),
        "{cleared}"
    );
    eventually(Duration::from_secs(10), || {
        (agent.get("/v1/alerts")["alerts"][0]["raised"] == false).then_some(())
    })
    .expect("the cleared alert is recorded");
    // Recorded after its post: later ticks see it cleared and post nothing more.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(receiver.posts().len(), 2, "{:?}", receiver.posts());
    assert!(ask("any alerts?").contains("No alerts"));
}

/// Three agents in one room, all seeing it too warm: the alert is posted once for the cluster,
/// not once per Pi. With the poster stopped, the others do not post it again; the clear is
/// posted once by a remaining node; the poster's return posts nothing more.
#[test]
fn alert_posted_once_per_cluster_even_with_a_node_away() {
    let receiver = Receiver::start();
    let root = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n\n[chat]\nalert_webhook = \"{}\"\nalert_after_s = 1\n",
        receiver.url
    );
    let mut mesh = start_mesh(
        root.path(),
        &[
            MeshNode {
                name: "pi-a",
                room: "lobby",
                ip: "127.0.0.51",
            },
            MeshNode {
                name: "pi-b",
                room: "lobby",
                ip: "127.0.0.52",
            },
            MeshNode {
                name: "pi-c",
                room: "lobby",
                ip: "127.0.0.53",
            },
        ],
        // The poster is the lowest id among the Pis each sees alive: at 200 ms a stall of about
        // a second on a loaded machine makes a peer suspect and a second Pi post. At 1 s it
        // takes about five.
        1000,
        &extra,
    );
    let (status, body) = send(
        "PUT",
        &format!("{}/v1/targets/lobby", mesh[1].api),
        None,
        Some(r#"{"quantity": "temperature", "value": 5, "tolerance": 1}"#),
    );
    assert_eq!(status, 200, "{body}");
    receiver.wait_for(1);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        receiver.posts().len(),
        1,
        "one post for three Pis: {:?}",
        receiver.posts()
    );

    // Who posted, as every node's replica says.
    let poster = eventually(Duration::from_secs(10), || {
        let alert = mesh[2].get("/v1/alerts")["alerts"]
            .as_array()?
            .first()?
            .clone();
        (alert["raised"] == true).then(|| alert["by"].as_str().map(str::to_string))?
    })
    .expect("the raised alert reaches every node");
    let poster_index = mesh
        .iter()
        .position(|agent| agent.get("/healthz")["node"].as_str() == Some(poster.as_str()))
        .expect("the poster is one of the three");
    assert!(mesh[poster_index].stop().success());
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        receiver.posts().len(),
        1,
        "nobody re-posts a raised alert: {:?}",
        receiver.posts()
    );

    // Back to normal while the poster is away: one clear, from a remaining node.
    let remaining = (poster_index + 1) % mesh.len();
    let (status, body) = send(
        "PUT",
        &format!("{}/v1/targets/lobby", mesh[remaining].api),
        None,
        Some(r#"{"quantity": "temperature", "value": 21, "tolerance": 30}"#),
    );
    assert_eq!(status, 200, "{body}");
    let posts = receiver.wait_for(2);
    assert!(text_of(&posts[1]).contains("back to normal"), "{posts:?}");
    std::thread::sleep(Duration::from_secs(3));
    mesh[poster_index].spawn();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(receiver.posts().len(), 2, "{:?}", receiver.posts());
}
