//! The Slack (Socket Mode) and Mattermost (WebSocket event API) adapters against local servers
//! that follow the documented wire formats (`chat_fakes`): every envelope acknowledged by its
//! `envelope_id`, answers threaded under the question, chatter ignored, Slack retries not
//! answered twice, slash commands answered on their `response_url`, reconnects after a
//! `disconnect` and after a dropped socket; Mattermost with two agents on one bot account
//! answering once. Slack hands each event to ONE of the app's sockets and refuses an 11th
//! (`too_many_websockets`): the agent backs off and connects when there is room; a `429` answer
//! is sent late, not lost; private replies are ephemeral. Mattermost delivers every post to
//! every connection; a private reply goes to the direct channel; a question asked while the
//! sockets were down is replayed on resume and answered. The tokens show in no log.

use crate::support;
use crate::support::chat_fakes;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chat_fakes::{posted_event, Fake, Kind, MATTERMOST_TOKEN, SLACK_APP_TOKEN, SLACK_BOT_TOKEN};
use serde_json::{json, Value};
use support::{eventually, start_mesh, AgentSpec, MeshNode, TestAgent};

fn slack_message(envelope: &str, ts: &str, text: &str, retry: u64) -> Value {
    json!({
        "envelope_id": envelope,
        "type": "events_api",
        "accepts_response_payload": false,
        "retry_attempt": retry,
        "retry_reason": if retry > 0 { "timeout" } else { "" },
        "payload": {
            "token": "legacy-verification", "team_id": "T1", "api_app_id": "A0TEST",
            "type": "event_callback", "event_id": format!("Ev{ts}"), "event_time": 1_700_000_000u64,
            "event": { "type": "message", "channel": "C1", "user": "U1", "text": text, "ts": ts,
                       "channel_type": "channel", "event_ts": ts }
        }
    })
}

fn slack_mention(envelope: &str, ts: &str, text: &str) -> Value {
    json!({
        "envelope_id": envelope, "type": "events_api", "accepts_response_payload": false,
        "retry_attempt": 0, "retry_reason": "",
        "payload": { "team_id": "T1", "api_app_id": "A0TEST", "type": "event_callback",
                     "event_id": format!("Ev{ts}m"),
                     "event": { "type": "app_mention", "channel": "C1", "user": "U1", "text": text,
                                "ts": ts, "event_ts": ts } }
    })
}

fn posts_in_thread(fake: &Fake, thread_ts: &str) -> Vec<Value> {
    fake.seen
        .posts()
        .into_iter()
        .filter(|post| post["thread_ts"] == thread_ts)
        .collect()
}

fn acked(fake: &Fake, envelope: &str) -> bool {
    fake.seen
        .frames()
        .iter()
        .filter_map(|frame| serde_json::from_str::<Value>(frame).ok())
        .any(|frame| frame == json!({ "envelope_id": envelope }))
}

/// Waits until the thread of `ts` has a post; returns the posts there.
fn wait_answer(fake: &Fake, agent: &TestAgent, ts: &str) -> Vec<Value> {
    eventually(Duration::from_secs(20), || {
        let posts = posts_in_thread(fake, ts);
        (!posts.is_empty()).then_some(posts)
    })
    .unwrap_or_else(|| panic!("no answer in thread {ts}; log:\n{}", agent.log()))
}

#[test]
fn slack_socket_mode_end_to_end() {
    let fake = Fake::start(Kind::Slack);
    let root = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        "[chat.slack]\napp_token = \"{SLACK_APP_TOKEN}\"\nbot_token = \"{SLACK_BOT_TOKEN}\"\napi_url = \"{}/api\"\n",
        fake.url()
    );
    let agent = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-slack",
            extra: &extra,
            ..AgentSpec::default()
        },
    );
    let connected = eventually(Duration::from_secs(20), || {
        (fake.seen.open_sockets() == 1).then_some(())
    });
    assert!(connected.is_some(), "no socket; log:\n{}", agent.log());
    assert_eq!(fake.seen.opens.load(Ordering::SeqCst), 1);

    // A question by name: acknowledged, answered in its thread.
    fake.push(&slack_message(
        "env-1",
        "1700000001.000100",
        "officemesh, who's at the office?",
        0,
    ));
    let answer = wait_answer(&fake, &agent, "1700000001.000100");
    assert_eq!(answer[0]["channel"], "C1");
    assert!(
        answer[0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("registered"),
        "{answer:?}"
    );
    assert!(acked(&fake, "env-1"), "envelope acknowledged");

    // Chatter: acknowledged, not answered. A retry of the question: acknowledged, not answered
    // again. A mention (its `message` twin is skipped) marks the end.
    fake.push(&slack_message(
        "env-2",
        "1700000002.000100",
        "lunch anyone?",
        0,
    ));
    fake.push(&slack_message(
        "env-3",
        "1700000001.000100",
        "officemesh, who's at the office?",
        1,
    ));
    fake.push(&slack_message(
        "env-4",
        "1700000003.000100",
        "<@UBOT> status",
        0,
    ));
    fake.push(&slack_mention(
        "env-5",
        "1700000003.000100",
        "<@UBOT> status",
    ));
    let status = wait_answer(&fake, &agent, "1700000003.000100");
    assert!(status[0]["text"]
        .as_str()
        .unwrap_or_default()
        .contains("Mesh:"));
    std::thread::sleep(Duration::from_secs(1));
    for envelope in ["env-2", "env-3", "env-4", "env-5"] {
        assert!(acked(&fake, envelope), "{envelope} acknowledged");
    }
    assert!(
        posts_in_thread(&fake, "1700000002.000100").is_empty(),
        "chatter"
    );
    assert_eq!(
        posts_in_thread(&fake, "1700000001.000100").len(),
        1,
        "retry"
    );
    assert_eq!(
        posts_in_thread(&fake, "1700000003.000100").len(),
        1,
        "mention once"
    );

    // "i am <mac>" in the channel: the claim link reaches ada alone (chat.postEphemeral, in
    // the question's thread); nothing with the link or the MAC is posted to the channel.
    fake.push(&slack_message(
        "env-p",
        "1700000004.000100",
        "officemesh, i am 3c:22:fb:12:34:56",
        0,
    ));
    let private = eventually(Duration::from_secs(20), || {
        fake.seen.ephemeral().into_iter().next()
    })
    .unwrap_or_else(|| panic!("no ephemeral reply; log:\n{}", agent.log()));
    assert_eq!(private["user"], "U1", "to the asker");
    assert_eq!(private["channel"], "C1");
    assert_eq!(private["thread_ts"], "1700000004.000100");
    assert!(
        private["text"]
            .as_str()
            .unwrap_or_default()
            .contains("/claim/"),
        "{private}"
    );
    for post in fake.seen.posts() {
        let text = post["text"].as_str().unwrap_or_default();
        assert!(
            !text.contains("/claim/") && !text.contains("3c:22:fb"),
            "{post}"
        );
    }

    // Slack rate limits the answer (429, Retry-After: 1): it is sent late, not lost.
    fake.seen.rate_limit_next.store(1, Ordering::SeqCst);
    fake.push(&slack_message(
        "env-r",
        "1700000005.000100",
        "officemesh status",
        0,
    ));
    let late = wait_answer(&fake, &agent, "1700000005.000100");
    assert_eq!(late.len(), 1);
    assert_eq!(
        fake.seen.rate_limited.load(Ordering::SeqCst),
        1,
        "it was limited once"
    );

    // A slash command over the socket, answered on its response_url.
    fake.push(&json!({
        "envelope_id": "env-6", "type": "slash_commands", "accepts_response_payload": true,
        "payload": { "token": "legacy", "team_id": "T1", "channel_id": "C1", "user_id": "U1",
                     "user_name": "ada", "command": "/office", "text": "help",
                     "response_url": format!("{}/response/1", fake.url()), "trigger_id": "1.2.3" }
    }));
    let response = eventually(Duration::from_secs(20), || {
        fake.seen.responses().into_iter().next()
    })
    .expect("the slash command answered");
    assert!(response["text"]
        .as_str()
        .unwrap_or_default()
        .contains("I answer from the office mesh"));
    assert!(acked(&fake, "env-6"));
    assert_eq!(
        response["response_type"], "in_channel",
        "help is for everyone"
    );
    // A private one ("forget me") is answered ephemerally.
    fake.push(&json!({
        "envelope_id": "env-6b", "type": "slash_commands", "accepts_response_payload": true,
        "payload": { "token": "legacy", "team_id": "T1", "channel_id": "C1", "user_id": "U1",
                     "user_name": "ada", "command": "/office", "text": "forget me",
                     "response_url": format!("{}/response/2", fake.url()), "trigger_id": "1.2.4" }
    }));
    let forget = eventually(Duration::from_secs(20), || {
        fake.seen.responses().into_iter().nth(1)
    })
    .expect("forget me answered");
    assert_eq!(forget["response_type"], "ephemeral", "{forget}");

    // `disconnect` (refresh_requested): a new URL and socket at once.
    fake.push(
        &json!({ "type": "disconnect", "reason": "refresh_requested",
                       "debug_info": { "host": "applink-fake" } }),
    );
    let reopened = eventually(Duration::from_secs(20), || {
        (fake.seen.opens.load(Ordering::SeqCst) == 2 && fake.seen.open_sockets() == 1).then_some(())
    });
    assert!(
        reopened.is_some(),
        "reconnect after disconnect; log:\n{}",
        agent.log()
    );

    // A dropped socket: reconnects (after a backoff) and answers again.
    fake.drop_sockets();
    let back = eventually(Duration::from_secs(30), || {
        (fake.seen.opens.load(Ordering::SeqCst) >= 3 && fake.seen.open_sockets() == 1).then_some(())
    });
    assert!(
        back.is_some(),
        "reconnect after a drop; log:\n{}",
        agent.log()
    );
    fake.push(&slack_message(
        "env-7",
        "1700000007.000100",
        "officemesh: temp in the lobby",
        0,
    ));
    let temp = wait_answer(&fake, &agent, "1700000007.000100");
    assert!(
        temp[0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("lobby"),
        "{temp:?}"
    );

    assert_eq!(
        fake.seen.refused.load(Ordering::SeqCst),
        0,
        "right token everywhere"
    );
    let log = agent.log();
    assert!(
        !log.contains(SLACK_APP_TOKEN) && !log.contains(SLACK_BOT_TOKEN),
        "tokens in the log"
    );
}

#[test]
fn slack_an_eleventh_connection_is_refused_and_the_agent_backs_off() {
    let fake = Fake::start(Kind::Slack);
    // Ten connections of the app are open elsewhere (Slack's limit).
    let occupants = fake.occupy(chat_fakes::SLACK_MAX_SOCKETS);
    let full = eventually(Duration::from_secs(20), || {
        (fake.seen.open_sockets() == chat_fakes::SLACK_MAX_SOCKETS).then_some(())
    });
    assert!(full.is_some(), "ten sockets open");
    let root = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        "[chat.slack]\napp_token = \"{SLACK_APP_TOKEN}\"\nbot_token = \"{SLACK_BOT_TOKEN}\"\napi_url = \"{}/api\"\n",
        fake.url()
    );
    let agent = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-eleventh",
            extra: &extra,
            ..AgentSpec::default()
        },
    );
    let refused = eventually(Duration::from_secs(30), || {
        agent.log().contains("too_many_websockets").then_some(())
    });
    assert!(
        refused.is_some(),
        "told too_many_websockets; log:\n{}",
        agent.log()
    );
    let first_refusals = fake.seen.too_many.load(Ordering::SeqCst);
    assert!(
        agent.log().contains("retry_in"),
        "it backs off, not straight back"
    );

    // The others go away: the agent gets a connection and answers.
    drop(occupants);
    let connected = eventually(Duration::from_secs(90), || {
        (fake.seen.open_sockets() == 1 && agent.log().contains("connected (Socket Mode)"))
            .then_some(())
    });
    assert!(
        connected.is_some(),
        "connected once there was room; log:\n{}",
        agent.log()
    );
    eprintln!(
        "figure: {} refusals before the log showed the first, {} in all",
        first_refusals,
        fake.seen.too_many.load(Ordering::SeqCst)
    );
    fake.push(&slack_message(
        "env-1",
        "1700000011.000100",
        "officemesh status",
        0,
    ));
    let answer = wait_answer(&fake, &agent, "1700000011.000100");
    assert!(answer[0]["text"]
        .as_str()
        .unwrap_or_default()
        .contains("Mesh:"));
}

fn mm_post(id: &str, text: &str) -> Value {
    json!({ "id": id, "create_at": 1_700_000_000_000u64, "update_at": 1_700_000_000_000u64,
            "user_id": "u1", "channel_id": "town", "root_id": "", "message": text, "type": "",
            "props": {}, "hashtags": "" })
}

fn replies_to(fake: &Fake, question: &str) -> Vec<Value> {
    fake.seen
        .posts()
        .into_iter()
        .filter(|post| post["props"]["officemesh_reply_to"] == question)
        .collect()
}

#[test]
fn mattermost_two_agents_one_bot_answer_once() {
    let fake = Fake::start(Kind::Mattermost);
    let root = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n\n[chat]\nhandover_s = 2\nalert_after_s = 1\nalert_room = \"alerts-channel\"\n\n[chat.mattermost]\nurl = \"{}\"\nbot_token = \"{MATTERMOST_TOKEN}\"\n",
        fake.url()
    );
    let nodes = [
        MeshNode {
            name: "pi-m1",
            room: "lobby",
            ip: "127.0.0.64",
        },
        MeshNode {
            name: "pi-m2",
            room: "kitchen",
            ip: "127.0.0.65",
        },
    ];
    // At 1 s a Pi is found dead after about five silent seconds (at 200 ms, one: under qemu
    // that happened, and the Pi that found its peer dead answered beside it).
    let agents = start_mesh(root.path(), &nodes, 1000, &extra);
    let connected = eventually(Duration::from_secs(20), || {
        (fake.seen.open_sockets() == 2).then_some(())
    });
    assert!(
        connected.is_some(),
        "two sockets; log:\n{}",
        agents[0].log()
    );
    support::wait_chat_turns(&agents, "mattermost");

    for (n, question) in [
        "officemesh, who's at the office?",
        "@officemesh status",
        "officemesh: temp",
    ]
    .iter()
    .enumerate()
    {
        let id = format!("q{n}");
        let mentions: &[&str] = if question.starts_with('@') {
            &["bot1"]
        } else {
            &[]
        };
        fake.push(&posted_event(
            &mm_post(&id, question),
            "O",
            "@ada",
            mentions,
        ));
        let answered = eventually(Duration::from_secs(20), || {
            (!replies_to(&fake, &id).is_empty()).then_some(())
        });
        assert!(
            answered.is_some(),
            "{question:?} answered; log:\n{}",
            agents[0].log()
        );
        // Past every handover: still one reply.
        std::thread::sleep(Duration::from_secs(5));
        let replies = replies_to(&fake, &id);
        assert_eq!(replies.len(), 1, "{question:?}: {replies:?}");
        assert_eq!(
            replies[0]["root_id"],
            id.as_str(),
            "threaded under the question"
        );
        assert_eq!(replies[0]["channel_id"], "town");
    }

    fake.push(&posted_event(
        &mm_post("chatter", "lunch anyone?"),
        "O",
        "@ada",
        &[],
    ));
    // A direct message needs no name.
    let mut direct = mm_post("dm1", "who's in?");
    direct["channel_id"] = json!("dm-ada-bot");
    fake.push(&posted_event(&direct, "D", "@ada", &[]));
    let dm = eventually(Duration::from_secs(20), || {
        replies_to(&fake, "dm1").into_iter().next()
    });
    assert!(dm.is_some(), "a direct message is answered");
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        replies_to(&fake, "chatter").is_empty(),
        "chatter is not answered"
    );
    assert_eq!(replies_to(&fake, "dm1").len(), 1);

    // "i am <mac>" in the channel: the link goes to the direct channel with ada; the thread
    // hears only that it was sent (once for the mesh).
    fake.push(&posted_event(
        &mm_post("claim", "officemesh, i am 3c:22:fb:12:34:56"),
        "O",
        "@ada",
        &[],
    ));
    let noted = eventually(Duration::from_secs(20), || {
        replies_to(&fake, "claim").into_iter().next()
    })
    .unwrap_or_else(|| panic!("no reply to the claim; log:\n{}", agents[0].log()));
    assert_eq!(noted["message"], "I've sent you a private message.");
    assert_eq!(noted["channel_id"], "town");
    let direct_posts: Vec<Value> = fake
        .seen
        .posts()
        .into_iter()
        .filter(|post| post["channel_id"] == "dm-bot1__u1")
        .collect();
    assert_eq!(direct_posts.len(), 1, "{direct_posts:?}");
    assert!(direct_posts[0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("/claim/"));
    for post in fake.seen.posts() {
        if post["channel_id"] == "town" {
            let text = post["message"].as_str().unwrap_or_default();
            assert!(
                !text.contains("/claim/") && !text.contains("3c:22:fb"),
                "{post}"
            );
        }
    }

    // Dropped sockets, and a question asked during the gap: both agents resume their
    // connections (connection_id + sequence_number), the question is replayed, answered once.
    let before = fake.seen.connections.load(Ordering::SeqCst);
    fake.drop_sockets();
    fake.push(&posted_event(
        &mm_post("q9", "officemesh status"),
        "O",
        "@ada",
        &[],
    ));
    let back = eventually(Duration::from_secs(30), || {
        (fake.seen.connections.load(Ordering::SeqCst) >= before + 2
            && fake.seen.open_sockets() == 2)
            .then_some(())
    });
    assert!(back.is_some(), "reconnected; log:\n{}", agents[0].log());
    assert_eq!(fake.seen.resumed.load(Ordering::SeqCst), 2, "both resumed");
    let again = eventually(Duration::from_secs(20), || {
        (!replies_to(&fake, "q9").is_empty()).then_some(())
    });
    assert!(again.is_some());
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(replies_to(&fake, "q9").len(), 1);

    // An alert goes to chat.alert_room as a bot post, once for the mesh.
    let (status, body) = support::send(
        "PUT",
        &format!("{}/v1/targets/lobby", agents[1].api),
        None,
        Some(r#"{"quantity": "temperature", "value": 5, "tolerance": 1}"#),
    );
    assert_eq!(status, 200, "{body}");
    let alert_posts = || {
        fake.seen
            .posts()
            .into_iter()
            .filter(|post| post["channel_id"] == "alerts-channel")
            .collect::<Vec<_>>()
    };
    let alerted = eventually(Duration::from_secs(60), || {
        (!alert_posts().is_empty()).then_some(())
    });
    assert!(
        alerted.is_some(),
        "no alert post; log:\n{}",
        agents[0].log()
    );
    std::thread::sleep(Duration::from_secs(4));
    let posts = alert_posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(
        posts[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("lobby temperature is at"),
        "{posts:?}"
    );

    assert_eq!(fake.seen.refused.load(Ordering::SeqCst), 0);
    for agent in &agents {
        assert!(
            !agent.log().contains(MATTERMOST_TOKEN),
            "{} logged the token",
            agent.name
        );
    }
}
