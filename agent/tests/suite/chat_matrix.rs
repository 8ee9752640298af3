//! The Matrix adapter against a real Synapse homeserver started here: three agents of one mesh
//! log in as ONE bot account (the same access token, read from `access_token_file`), join the
//! room they are invited to, answer "officemesh, who's at the office?" exactly once, say nothing
//! to "lunch anyone?", and with two agents stopped (one leaves, one is killed) the third
//! answers, naming the Pi it cannot reach. The bot's token shows in no agent log and no `/v1` answer.
//! Private replies (a claim link, "forget me") reach the asker alone in a direct room, while
//! another member of the room, syncing as a real client, sees neither the link nor the MAC; a
//! member who renames himself after another cannot forget her devices; in an encrypted room the
//! bot says once that it cannot read it; a question asked while the agent was down is answered
//! after its restart (the `/sync` position is kept on disk).
//!
//! Needs the Synapse venv (`deploy/synapse-venv.sh`; `deploy/test.sh` builds it as root): skips
//! with a message without it, fails under `CI=true`.

use crate::support;
use crate::support::synapse as synapse_support;

use std::time::{Duration, Instant};

use support::{eventually, start_mesh, AgentSpec, MeshNode, TestAgent};
use synapse_support::{require_synapse, MatrixUser, Synapse};

/// `chat.handover_s` here: how long the next node waits for the bot's reply.
const HANDOVER_S: u64 = 2;

#[test]
fn three_agents_one_bot_account_answer_once() {
    let Some(venv) = require_synapse("three_agents_one_bot_account_answer_once") else {
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    let synapse = Synapse::start(&venv, &root.path().join("synapse"));
    let bot = synapse.register("officemesh", "bot-password-1");
    let ada = synapse.register("ada", "ada-password-1");
    let token_file = root.path().join("matrix.token");
    std::fs::write(&token_file, format!("{}\n", bot.token)).expect("token file");

    let room = ada.create_room("office", &[&bot.user_id]);
    let extra = format!(
        "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n\n[chat]\nhandover_s = {HANDOVER_S}\nalert_after_s = 1\nalert_room = \"{room}\"\n\n[chat.matrix]\nhomeserver = \"{}\"\naccess_token_file = \"{}\"\n",
        synapse.url,
        token_file.display()
    );
    let nodes = [
        MeshNode {
            name: "pi-a",
            room: "lobby",
            ip: "127.0.0.61",
        },
        MeshNode {
            name: "pi-b",
            room: "kitchen",
            ip: "127.0.0.62",
        },
        MeshNode {
            name: "pi-c",
            room: "meeting room",
            ip: "127.0.0.63",
        },
    ];
    let mut agents = start_mesh(root.path(), &nodes, 200, &extra);

    // Every agent syncs as the bot; the invitation is accepted.
    let synced = eventually(Duration::from_secs(60), || {
        agents
            .iter()
            .all(|agent| agent.log().contains("matrix: logged in"))
            .then_some(())
    });
    assert!(synced.is_some(), "agents did not log in to Matrix");
    let joined = eventually(Duration::from_secs(60), || {
        ada.joined_members(&room)
            .contains(&bot.user_id)
            .then_some(())
    });
    assert!(
        joined.is_some(),
        "the bot did not join; logs:\n{}",
        agents[0].log()
    );
    // The first sync of each agent is history; give every agent time to be past it.
    std::thread::sleep(Duration::from_secs(2));
    support::wait_chat_turns(&agents, "matrix");

    // Whole mesh: exactly one reply.
    let asked = Instant::now();
    let question = ada.say(&room, "officemesh, who's at the office?");
    let first = eventually(Duration::from_secs(30), || {
        let replies = ada.replies_to(&room, &bot.user_id, &question);
        (!replies.is_empty()).then_some(replies)
    })
    .unwrap_or_else(|| {
        panic!(
            "no reply to the question; logs:\n{}",
            agents
                .iter()
                .map(|a| a.log())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    // A figure, not an assertion: how long the question waited for its answer.
    eprintln!(
        "figure: whole mesh, reply seen {} ms after the question",
        asked.elapsed().as_millis()
    );
    let text = first[0]["content"]["body"].as_str().unwrap_or_default();
    assert!(
        text.contains("Nobody has registered") || text.contains("In the office"),
        "a who's-in answer: {text}"
    );
    // Every other node's turn has passed (two handovers and margin): still one reply.
    std::thread::sleep(Duration::from_secs(HANDOVER_S * 3 + 2));
    assert_eq!(
        ada.replies_to(&room, &bot.user_id, &question).len(),
        1,
        "exactly one reply from the whole mesh"
    );

    // Chatter gets nothing; a marker question after it shows the agents had read it.
    let chatter = ada.say(&room, "lunch anyone?");
    let marker = ada.say(&room, "@officemesh status");
    let marked = eventually(Duration::from_secs(30), || {
        (!ada.replies_to(&room, &bot.user_id, &marker).is_empty()).then_some(())
    });
    assert!(marked.is_some(), "no reply to \"@officemesh status\"");
    std::thread::sleep(Duration::from_secs(HANDOVER_S * 3 + 2));
    assert!(
        ada.replies_to(&room, &bot.user_id, &chatter).is_empty(),
        "no reply to chatter"
    );
    assert_eq!(ada.replies_to(&room, &bot.user_id, &marker).len(), 1);
    let bot_messages = ada
        .messages(&room)
        .into_iter()
        .filter(|event| event["sender"] == bot.user_id.as_str())
        .count();
    assert_eq!(bot_messages, 2, "the bot said exactly two things");

    // An alert: posted into the alert room by the bot, once for the whole mesh.
    let (status, body) = support::send(
        "PUT",
        &format!("{}/v1/targets/lobby", agents[1].api),
        None,
        Some(r#"{"quantity": "temperature", "value": 5, "tolerance": 1}"#),
    );
    assert_eq!(status, 200, "{body}");
    let alert_posts = || {
        ada.messages(&room)
            .into_iter()
            .filter(|event| {
                event["sender"] == bot.user_id.as_str()
                    && event["content"]["body"]
                        .as_str()
                        .is_some_and(|text| text.contains("above its target 5 "))
            })
            .count()
    };
    let alerted = eventually(Duration::from_secs(60), || {
        (alert_posts() > 0).then_some(())
    });
    assert!(
        alerted.is_some(),
        "no alert in the room; log:\n{}",
        agents[0].log()
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(alert_posts(), 1, "one alert message for the whole mesh");

    // Two agents stopped — pi-a cleanly (it leaves the mesh), pi-b killed (as on a power
    // cut): the third answers, and says it cannot reach pi-b.
    agents[0].stop();
    agents[1].kill();
    let asked = Instant::now();
    let alone = ada.say(&room, "officemesh: who's in?");
    let reply = eventually(Duration::from_secs(60), || {
        ada.replies_to(&room, &bot.user_id, &alone)
            .into_iter()
            .next()
    });
    assert!(
        reply.is_some(),
        "the remaining agent did not answer; log:\n{}",
        agents[2].log()
    );
    eprintln!(
        "figure: two of three agents just stopped, reply seen {} ms after the question",
        asked.elapsed().as_millis()
    );
    let noticed = eventually(Duration::from_secs(60), || {
        let nodes = agents[2].get("/v1/nodes")["nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let status = |name: &str| {
            nodes
                .iter()
                .find(|n| n["name"] == name)
                .map(|n| n["status"].as_str().unwrap_or_default().to_string())
                .unwrap_or_default()
        };
        (status("pi-a") == "left" && !["alive", "left", ""].contains(&status("pi-b").as_str()))
            .then_some(())
    });
    assert!(noticed.is_some(), "pi-c did not notice the others are gone");
    let caveat_question = ada.say(&room, "officemesh, who's in?");
    let caveat = eventually(Duration::from_secs(30), || {
        ada.replies_to(&room, &bot.user_id, &caveat_question)
            .into_iter()
            .next()
    })
    .expect("a reply from pi-c");
    let caveat_text = caveat["content"]["body"].as_str().unwrap_or_default();
    assert!(
        caveat_text.contains("I can't reach pi-b") && !caveat_text.contains("pi-a"),
        "a caveat for the crashed Pi, none for the one that left: {caveat_text}"
    );

    // The token is in no log and no /v1 answer.
    for path in [
        "/v1/nodes",
        "/v1/events",
        "/v1/alerts",
        "/v1/presence",
        "/metrics",
    ] {
        let body = ureq::get(&format!("{}{path}", agents[2].api))
            .timeout(Duration::from_secs(5))
            .call()
            .map(|r| r.into_string().unwrap_or_default())
            .unwrap_or_default();
        assert!(!body.is_empty(), "{path} answered");
        assert!(!body.contains(&bot.token), "{path} shows the bot's token");
    }
    for agent in &agents {
        assert!(
            !agent.log().contains(&bot.token),
            "{} logged the bot's token",
            agent.name
        );
    }
}

/// The bot's messages `user` can read in every room they are in and every room they are
/// invited to, as one text.
fn bot_said_to(user: &MatrixUser, bot: &str) -> String {
    user.joined_rooms()
        .iter()
        .flat_map(|room| user.messages(room))
        .filter(|event| event["sender"] == bot)
        .map(|event| {
            event["content"]["body"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asks `question` in `room` as `user` and waits for the bot's reply in that room.
fn ask(user: &MatrixUser, room: &str, bot: &str, question: &str) -> (String, String) {
    let id = user.say(room, question);
    let reply = eventually(Duration::from_secs(30), || {
        user.replies_to(room, bot, &id).into_iter().next()
    })
    .unwrap_or_else(|| panic!("no reply to {question:?}"));
    let text = reply["content"]["body"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (id, text)
}

/// The direct room the bot invited `user` to (joined here), and what the bot said in it.
fn private_messages(agent: &TestAgent, user: &MatrixUser, bot: &str, wanted: &str) -> String {
    let found = eventually(Duration::from_secs(30), || {
        for (room, inviter) in user.invites() {
            if inviter == bot {
                user.join(&room);
            }
        }
        let said = bot_said_to(user, bot);
        said.contains(wanted).then_some(said)
    });
    found.unwrap_or_else(|| {
        panic!(
            "{} got no private message with {wanted:?}; the bot said to them:\n{}\nlog:\n{}",
            user.user_id,
            bot_said_to(user, bot),
            agent.log()
        )
    })
}

#[test]
fn private_replies_reach_the_asker_alone() {
    let Some(venv) = require_synapse("private_replies_reach_the_asker_alone") else {
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    let synapse = Synapse::start(&venv, &root.path().join("synapse"));
    let bot = synapse.register("officemesh", "bot-password-1");
    let ada = synapse.register("ada", "ada-password-1");
    let bob = synapse.register("bob", "bob-password-1");
    let token_file = root.path().join("matrix.token");
    std::fs::write(&token_file, format!("{}\n", bot.token)).expect("token file");
    let extra = format!(
        "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n\n[chat]\nhandover_s = 1\n\n[chat.matrix]\nhomeserver = \"{}\"\naccess_token_file = \"{}\"\n",
        synapse.url,
        token_file.display()
    );
    let mut agent = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-a",
            extra: &extra,
            ..AgentSpec::default()
        },
    );
    let room = ada.create_room("office", &[&bot.user_id, &bob.user_id]);
    bob.join(&room);
    let joined = eventually(Duration::from_secs(60), || {
        ada.joined_members(&room)
            .contains(&bot.user_id)
            .then_some(())
    });
    assert!(
        joined.is_some(),
        "the bot did not join; log:\n{}",
        agent.log()
    );
    // Ask until the bot answers: its first sync (history) is behind it.
    let answering = eventually(Duration::from_secs(60), || {
        let id = ada.say(&room, "officemesh status");
        let limit = Instant::now() + Duration::from_secs(5);
        while Instant::now() < limit {
            if !ada.replies_to(&room, &bot.user_id, &id).is_empty() {
                return Some(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    });
    assert!(
        answering.is_some(),
        "the bot never answered; log:\n{}",
        agent.log()
    );

    // ada claims her phone in the shared room: the link reaches her alone.
    let (_, in_room) = ask(
        &ada,
        &room,
        &bot.user_id,
        "officemesh, i am 3c:22:fb:12:34:56",
    );
    assert_eq!(in_room, "I've sent you a private message.");
    let to_ada = private_messages(&agent, &ada, &bot.user_id, "/claim/");
    assert!(to_ada.contains("open this link on it"), "{to_ada}");
    // bob, a member of the same room syncing as his client does, sees neither the link nor
    // the MAC from the bot (he does see that a private message was sent).
    let to_bob = bot_said_to(&bob, &bot.user_id);
    assert!(
        to_bob.contains("I've sent you a private message."),
        "bob reads the room: {to_bob}"
    );
    assert!(
        !to_bob.contains("/claim/") && !to_bob.contains("3c:22:fb"),
        "{to_bob}"
    );
    assert!(bob.invites().is_empty(), "bob is invited nowhere");

    // ada's device as her opened claim link records it: under her Matrix id.
    let (status, body) = support::send(
        "POST",
        &format!("{}/v1/people", agent.api),
        None,
        Some(r#"{"name": "ada", "mac": "3c:22:fb:12:34:56", "added_by": "matrix:@ada:localhost"}"#),
    );
    assert_eq!(status, 201, "{body}");
    let ada_devices = || {
        agent
            .get("/v1/people")
            .to_string()
            .contains("3c:22:fb:12:34:56")
    };

    // bob calls himself ada and tries to forget her: nothing of hers is touched.
    bob.set_display_name("ada");
    let (_, in_room) = ask(&bob, &room, &bot.user_id, "officemesh, forget me");
    assert_eq!(in_room, "I've sent you a private message.");
    private_messages(&agent, &bob, &bot.user_id, "nothing to forget");
    ask(
        &bob,
        &room,
        &bot.user_id,
        "officemesh, forget 3c:22:fb:12:34:56",
    );
    private_messages(&agent, &bob, &bot.user_id, "registered to someone else");
    assert!(ada_devices(), "ada's device is still hers");

    // ada forgets herself: done, and the list of her devices reaches her alone.
    let (_, in_room) = ask(&ada, &room, &bot.user_id, "officemesh, forget me");
    assert_eq!(in_room, "I've sent you a private message.");
    private_messages(
        &agent,
        &ada,
        &bot.user_id,
        "Forgotten, ada: I removed 3c:22:fb:12:34:56",
    );
    assert!(!ada_devices(), "forgotten");
    // bob sees nothing of it but the room's note (his own direct room holds only what he
    // asked about himself).
    let to_bob = bot_said_to(&bob, &bot.user_id);
    assert!(
        !to_bob.contains("Forgotten") && !to_bob.contains("I removed"),
        "{to_bob}"
    );
    let in_office: Vec<String> = bob
        .messages(&room)
        .into_iter()
        .filter(|e| e["sender"] == bot.user_id.as_str())
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_string))
        .collect();
    assert!(
        in_office
            .iter()
            .all(|text| !text.contains("3c:22:fb") && !text.contains("/claim/")),
        "{in_office:?}"
    );

    // An encrypted room: the bot joins, says once it cannot read it, and how to reach it.
    let secret = ada.create_encrypted_room("secret", &[&bot.user_id]);
    let said = eventually(Duration::from_secs(60), || {
        let notes: Vec<String> = ada
            .messages(&secret)
            .into_iter()
            .filter(|e| e["sender"] == bot.user_id.as_str())
            .filter_map(|e| e["content"]["body"].as_str().map(str::to_string))
            .collect();
        (!notes.is_empty()).then_some(notes)
    })
    .unwrap_or_else(|| panic!("nothing said in the encrypted room; log:\n{}", agent.log()));
    assert_eq!(said.len(), 1, "said once: {said:?}");
    assert!(
        said[0].contains("can't read encrypted messages") && said[0].contains("direct chat"),
        "{}",
        said[0]
    );
    assert!(
        agent.log().contains("this room is encrypted"),
        "and logged it"
    );

    // The agent is down while ada asks; started again, it resumes /sync where it stopped
    // and answers the question it missed.
    agent.stop();
    let missed = ada.say(&room, "officemesh, who's in?");
    let before = agent.log().len();
    agent.spawn();
    let answered = eventually(Duration::from_secs(60), || {
        ada.replies_to(&room, &bot.user_id, &missed)
            .into_iter()
            .next()
    });
    assert!(
        answered.is_some(),
        "the question asked while it was down was not answered; log:\n{}",
        agent.log()
    );
    // It resumed where it stopped: nothing answered before is answered again (a marker
    // question after it shows it has read everything up to there).
    ask(&ada, &room, &bot.user_id, "officemesh status");
    let since_restart = agent.log().get(before..).unwrap_or_default().to_string();
    let answers = since_restart.matches("chat: answered").count();
    assert_eq!(
        answers, 2,
        "only the missed question and the marker:\n{since_restart}"
    );
}
