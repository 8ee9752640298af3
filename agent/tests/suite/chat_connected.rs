//! Only connected chat adapters count, on meshes of real agents against the fakes. Slack (which
//! hands each event to ONE of the app's sockets): with one slot (`chat.slack.connections = 1`)
//! and the Pi ranked first given a broken app token, a Pi with a working token holds the slot
//! and answers; killed, the Pi standing by takes over. Mattermost (every post to every
//! connection, Pis take turns): a Pi with a broken token, ranked first for a post, does not
//! make the working Pi wait its handover. Alerts are posted while the socket is down.

use crate::support;
use crate::support::chat_fakes;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chat_fakes::{posted_event, Fake, Kind, MATTERMOST_TOKEN, SLACK_APP_TOKEN, SLACK_BOT_TOKEN};
use officemesh::chat::dedup::ranking;
use officemesh::crdt::NodeId;
use serde_json::{json, Value};
use support::{eventually, start_mesh_each, MeshNode, TestAgent};

fn status_question(envelope: &str, ts: &str) -> Value {
    json!({
        "envelope_id": envelope, "type": "events_api", "accepts_response_payload": false,
        "retry_attempt": 0, "retry_reason": "",
        "payload": { "team_id": "T1", "api_app_id": "A0TEST", "type": "event_callback",
                     "event_id": format!("Ev{ts}"),
                     "event": { "type": "message", "channel": "C1", "user": "U1",
                                "text": "officemesh status", "ts": ts, "channel_type": "channel" } }
    })
}

/// Asks "status" and returns the name of the Pi that answered (its "this node" line).
fn who_answers(fake: &Fake, agents: &[TestAgent], names: &[&str], n: usize) -> String {
    let ts = format!("1700000100.{n:06}");
    fake.push(&status_question(&format!("env-slot-{n}"), &ts));
    let text = eventually(Duration::from_secs(20), || {
        let posts = fake.seen.posts();
        let post = posts.iter().find(|post| post["thread_ts"] == ts.as_str())?;
        post["text"].as_str().map(str::to_string)
    })
    .unwrap_or_else(|| panic!("no answer to {ts}; logs:\n{}", logs(agents)));
    let answered_by = names.iter().find(|name| {
        text.lines()
            .any(|line| line.starts_with(&format!("• {name} (")) && line.contains("this node"))
    });
    answered_by
        .unwrap_or_else(|| panic!("no \"this node\" line in {text:?}"))
        .to_string()
}

/// Gives each agent (by name, under `root`) the node id it will start with.
fn seed_ids(root: &std::path::Path, names: &[&str], ids: &[NodeId]) {
    for (name, id) in names.iter().zip(ids) {
        let data = root.join(name).join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::write(data.join("node_id"), format!("{id}\n")).expect("node id");
    }
}

fn logs(agents: &[TestAgent]) -> String {
    let logs: Vec<String> = agents.iter().map(TestAgent::log).collect();
    logs.join("\n-----\n")
}

#[test]
fn slack_slots_go_to_connected_adapters_and_a_standby_takes_over() {
    let fake = Fake::start(Kind::Slack);
    let root = tempfile::tempdir().expect("tempdir");
    let names = ["pi-s1", "pi-s2", "pi-s3"];
    let ids = [0x1111_u64, 0x2222, 0x3333].map(|n| NodeId(n * 0x0001_0001_0001));
    seed_ids(root.path(), &names, &ids);
    // The Pi that ranks first for the slot is the one whose app token Slack refuses.
    let first = ranking(
        "slack-socket",
        &ids.iter().copied().collect::<BTreeSet<_>>(),
    )[0];
    let broken = ids.iter().position(|id| *id == first).expect("ranked");
    let extras: Vec<String> = (0..names.len())
        .map(|i| {
            let app_token = if i == broken {
                "xapp-1-A0TEST-revoked"
            } else {
                SLACK_APP_TOKEN
            };
            format!(
                "[chat.slack]\napp_token = \"{app_token}\"\nbot_token = \"{SLACK_BOT_TOKEN}\"\napi_url = \"{}/api\"\nconnections = 1\n",
                fake.url()
            )
        })
        .collect();
    let extras: Vec<&str> = extras.iter().map(String::as_str).collect();
    let nodes = [
        MeshNode {
            name: names[0],
            room: "lobby",
            ip: "127.0.0.81",
        },
        MeshNode {
            name: names[1],
            room: "kitchen",
            ip: "127.0.0.82",
        },
        MeshNode {
            name: names[2],
            room: "office",
            ip: "127.0.0.83",
        },
    ];
    let mut agents = start_mesh_each(root.path(), &nodes, 200, &extras);

    // One working Pi holds the one slot, the other stands by; the broken one holds nothing.
    let settled = eventually(Duration::from_secs(60), || {
        let standing_by = (0..names.len())
            .filter(|i| *i != broken)
            .any(|i| agents[i].log().contains("standing by"));
        (fake.seen.open_sockets() == 1 && standing_by).then_some(())
    });
    assert!(
        settled.is_some(),
        "one socket, one Pi standing by; logs:\n{}",
        logs(&agents)
    );
    assert!(
        fake.seen.refused.load(Ordering::SeqCst) > 0,
        "the revoked token was tried"
    );
    let holder = who_answers(&fake, &agents, &names, 1);
    assert_ne!(holder, names[broken], "the broken Pi holds no slot");

    // The holder goes: the Pi standing by takes the slot and answers.
    let holder_index = names
        .iter()
        .position(|name| *name == holder)
        .expect("a node");
    agents[holder_index].kill();
    let closed = eventually(Duration::from_secs(20), || {
        (fake.seen.open_sockets() == 0).then_some(())
    });
    assert!(closed.is_some(), "the killed Pi's socket closed");
    let taken_over = eventually(Duration::from_secs(90), || {
        (fake.seen.open_sockets() == 1).then_some(())
    });
    assert!(
        taken_over.is_some(),
        "a standby connected; logs:\n{}",
        logs(&agents)
    );
    let next = who_answers(&fake, &agents, &names, 2);
    assert_ne!(next, holder);
    assert_ne!(next, names[broken], "the broken Pi still holds nothing");
    assert!(
        !agents[broken].log().contains("slack: connected"),
        "the broken Pi never connected"
    );
}

#[test]
fn mattermost_a_pi_with_a_broken_token_does_not_delay_answers() {
    let fake = Fake::start(Kind::Mattermost);
    let root = tempfile::tempdir().expect("tempdir");
    let names = ["pi-t1", "pi-t2"];
    let ids = [NodeId(0x4444_4444_4444_4444), NodeId(0x5555_5555_5555_5555)];
    seed_ids(root.path(), &names, &ids);
    let broken = 1;
    // A post for which the broken Pi ranks first: the working one would wait a minute for it.
    let both: BTreeSet<NodeId> = ids.iter().copied().collect();
    let post = (0..100)
        .map(|n| format!("q{n}"))
        .find(|id| ranking(id, &both)[0] == ids[broken])
        .expect("a post the broken Pi ranks first for");
    let extras: Vec<String> = (0..names.len())
        .map(|i| {
            let token = if i == broken { "mm-revoked" } else { MATTERMOST_TOKEN };
            format!(
                "[chat]\nhandover_s = 60\n\n[chat.mattermost]\nurl = \"{}\"\nbot_token = \"{token}\"\n",
                fake.url()
            )
        })
        .collect();
    let extras: Vec<&str> = extras.iter().map(String::as_str).collect();
    let nodes = [
        MeshNode {
            name: names[0],
            room: "lobby",
            ip: "127.0.0.84",
        },
        MeshNode {
            name: names[1],
            room: "kitchen",
            ip: "127.0.0.85",
        },
    ];
    let agents = start_mesh_each(root.path(), &nodes, 200, &extras);
    let connected = eventually(Duration::from_secs(20), || {
        (fake.seen.open_sockets() == 1 && fake.seen.refused.load(Ordering::SeqCst) > 0)
            .then_some(())
    });
    assert!(
        connected.is_some(),
        "one socket, one refusal; logs:\n{}",
        logs(&agents)
    );
    let question = json!({ "id": post, "create_at": 1_700_000_000_000u64, "user_id": "u1",
                           "channel_id": "town", "root_id": "", "type": "", "props": {},
                           "message": "officemesh status" });
    fake.push(&posted_event(&question, "O", "@ada", &[]));
    // Well inside the minute the working Pi would wait if the broken one held its turn.
    let answered = eventually(Duration::from_secs(20), || {
        fake.seen
            .posts()
            .into_iter()
            .find(|reply| reply["props"]["officemesh_reply_to"] == post.as_str())
    });
    assert!(
        answered.is_some(),
        "answered without waiting for the broken Pi; logs:\n{}",
        logs(&agents)
    );
}

#[test]
fn slack_alerts_are_posted_while_the_socket_is_down() {
    // The app token is refused, so the socket never opens; alerts go over the Web API with
    // the bot token all the same.
    let fake = Fake::start(Kind::Slack);
    let root = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n\n[chat]\nalert_after_s = 1\nalert_room = \"C-ALERTS\"\n\n[chat.slack]\napp_token = \"xapp-1-A0TEST-revoked\"\nbot_token = \"{SLACK_BOT_TOKEN}\"\napi_url = \"{}/api\"\n",
        fake.url()
    );
    let agent = TestAgent::start(
        root.path(),
        support::AgentSpec {
            name: "pi-alert-standby",
            room: "lobby",
            extra: &extra,
            ..support::AgentSpec::default()
        },
    );
    // The simulated room is around 20 °C: 5 ± 1 is certainly violated.
    let (status, body) = support::send(
        "PUT",
        &format!("{}/v1/targets/lobby", agent.api),
        None,
        Some(r#"{"quantity": "temperature", "value": 5, "tolerance": 1}"#),
    );
    assert_eq!(status, 200, "{body}");
    let posted = eventually(Duration::from_secs(30), || {
        fake.seen
            .posts()
            .into_iter()
            .find(|post| post["channel"] == "C-ALERTS")
    });
    assert!(
        posted.is_some(),
        "the alert was posted; log:\n{}",
        agent.log()
    );
    assert_eq!(fake.seen.open_sockets(), 0, "with no socket");
}
