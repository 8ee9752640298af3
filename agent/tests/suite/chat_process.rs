//! The chat bot end to end against a real agent process on loopback: `POST /v1/chat` (JSON,
//! API token), the Slack slash command (real HMAC signatures computed here with a known secret;
//! wrong signature, stale timestamp and a replayed body with modified text are refused and change
//! nothing) and the Mattermost slash command (form token or `Authorization: Token`).
//! One agent: gossip is not wired in this branch, so a cluster would not exchange state yet.

use crate::support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::Value as Json;
use sha2::Sha256;
use support::{eventually, send, AgentSpec, TestAgent};

const TOKEN: &str = "api-t0ken";
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const MATTERMOST_TOKEN: &str = "mm-slash-t0ken";

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Slack's v0 signature, computed independently of the agent's code.
fn slack_sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// The stable user id every form below is sent as, unless it says otherwise.
const USER_ID: &str = "U2147483697";

fn form(user: &str, text: &str, token: &str) -> String {
    form_as(user, USER_ID, text, token)
}

fn form_as(user: &str, user_id: &str, text: &str, token: &str) -> String {
    serde_urlencoded::to_string([
        ("token", token),
        ("team_id", "T0001"),
        ("channel_id", "C2147483705"),
        ("user_id", user_id),
        ("user_name", user),
        ("command", "/office"),
        ("text", text),
        (
            "response_url",
            "https://hooks.example.invalid/commands/1234/5678",
        ),
    ])
    .expect("form")
}

/// POSTs a form with extra headers; returns (status, JSON body).
fn post_form(url: &str, headers: &[(&str, &str)], body: &str) -> (u16, Json) {
    let mut request = ureq::post(url)
        .timeout(Duration::from_secs(10))
        .set("Content-Type", "application/x-www-form-urlencoded");
    for (name, value) in headers {
        request = request.set(name, value);
    }
    let response = match request.send_string(body) {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(other) => panic!("POST {url}: {other}"),
    };
    let status = response.status();
    (status, response.into_json().unwrap_or(Json::Null))
}

fn chat(agent: &TestAgent, user: &str, text: &str) -> String {
    let body = serde_json::json!({ "user": user, "text": text }).to_string();
    let (status, reply) = send(
        "POST",
        &format!("{}/v1/chat", agent.api),
        Some(TOKEN),
        Some(&body),
    );
    assert_eq!(status, 200, "{text:?} → {reply}");
    reply["text"].as_str().expect("text").to_string()
}

fn people(agent: &TestAgent) -> Json {
    agent.get("/v1/people")["people"].clone()
}

#[test]
fn chat_over_http_slack_and_mattermost() {
    let root = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n\n[chat]\nslack_signing_secret = \"{SLACK_SECRET}\"\nmattermost_token = \"{MATTERMOST_TOKEN}\"\n"
    );
    let agent = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-chat",
            room: "meeting room",
            api_token: TOKEN,
            extra: &extra,
            ..AgentSpec::default()
        },
    );
    let url = |path: &str| format!("{}{path}", agent.api);

    // A device the simulated network shows, to register as somebody's.
    let device = eventually(Duration::from_secs(15), || {
        let (_, network) = send("GET", &url("/v1/network"), Some(TOKEN), None);
        network["devices"]
            .as_array()?
            .iter()
            .find(|d| d["present"] == true)
            .and_then(|d| d["mac"].as_str().map(str::to_string))
    })
    .expect("the simulated network shows a device");
    eventually(Duration::from_secs(15), || {
        let readings = agent.get("/v1/readings?room=meeting%20room&quantity=temperature");
        (!readings["readings"].as_array()?.is_empty()).then_some(())
    })
    .expect("a temperature reading");

    // POST /v1/chat: token rule, bad JSON, and the grammar end to end.
    let body = r#"{"user": "ada", "text": "who's in?"}"#;
    let (status, _) = send("POST", &url("/v1/chat"), None, Some(body));
    assert_eq!(status, 401, "the API token is required when set");
    let (status, reply) = send("POST", &url("/v1/chat"), Some(TOKEN), Some("{not json"));
    assert_eq!(status, 400);
    assert!(
        reply["error"].as_str().unwrap_or("").contains("JSON"),
        "{reply}"
    );
    let (status, _) = send(
        "POST",
        &url("/v1/chat"),
        Some(TOKEN),
        Some(r#"{"text": "hi"}"#),
    );
    assert_eq!(status, 400, "user is required");

    // "i am": a private claim link, no MAC, nothing registered until the device opens it.
    let body =
        serde_json::json!({ "user": "ada", "text": format!("I'm {}", device.to_uppercase()) })
            .to_string();
    let (status, reply) = send("POST", &url("/v1/chat"), Some(TOKEN), Some(&body));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["response_type"], "ephemeral", "{reply}");
    let claim = reply["text"].as_str().unwrap_or("").to_string();
    assert!(claim.contains("/claim/"), "{claim}");
    assert!(
        !claim.to_lowercase().contains(&device),
        "no MAC in the reply: {claim}"
    );
    assert_eq!(people(&agent), Json::Array(Vec::new()));
    // Opened from loopback, which is not that device: refused.
    let link = claim
        .split_whitespace()
        .find(|word| word.contains("/claim/"))
        .expect("a link")
        .to_string();
    let (status, _) = send("GET", &link, None, None);
    assert_eq!(status, 403, "a link opened from another device is refused");
    assert_eq!(people(&agent), Json::Array(Vec::new()));
    // The admin path registers directly (the claim itself is tested in presence_lab.rs).
    let (status, body) = send(
        "POST",
        &url("/v1/people"),
        Some(TOKEN),
        Some(&format!(r#"{{"name": "ada", "mac": "{device}"}}"#)),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(people(&agent)[0]["name"], "ada");
    // The scanning node replicates ada's sighting at its next scan (1 s here).
    let who = eventually(Duration::from_secs(10), || {
        let who = chat(&agent, "bob", "whos in teh office?");
        who.contains("In the office: ada").then_some(who)
    });
    assert!(who.is_some(), "ada is in once her device is registered");
    let temperature = chat(&agent, "bob", "meeting room temp");
    assert!(
        temperature.starts_with("meeting room temperature: "),
        "{temperature}"
    );
    assert!(temperature.contains("pi-chat"), "{temperature}");
    let typo = chat(&agent, "bob", "meting room temp");
    assert!(typo.contains("to mean meeting room"), "{typo}");
    let bad = chat(&agent, "bob", "i am aa:bb:cc");
    assert!(bad.contains("not a usable MAC"), "{bad}");
    let unknown = chat(&agent, "bob", "make me a coffee");
    assert!(unknown.contains("didn't understand"), "{unknown}");
    let set = chat(&agent, "bob", "set meeting room temperature to 21.5");
    assert!(set.contains("now 21.5 °C"), "{set}");
    let targets = agent.get("/v1/targets");
    assert_eq!(targets["targets"][0]["room"], "meeting room");
    assert_eq!(targets["targets"][0]["value"], 21.5);
    let status = chat(&agent, "bob", "status");
    assert!(
        status.contains("pi-chat (meeting room): this node"),
        "{status}"
    );
    // Asked as colleagues ask: the person by name, thanks, the extreme room, and a target
    // removed through the same durable write path as "set".
    let whereis = chat(&agent, "bob", "where's ada?");
    assert!(
        whereis.contains("Yes, ada is in the office, seen by pi-chat"),
        "{whereis}"
    );
    assert!(chat(&agent, "bob", "thank you").contains("welcome"));
    let coldest = chat(&agent, "bob", "which room is coldest?");
    assert!(coldest.contains("meeting room"), "{coldest}");
    let removed = chat(&agent, "bob", "remove the meeting room target");
    assert!(
        removed.contains("removed the temperature target for meeting room"),
        "{removed}"
    );
    let targets = agent.get("/v1/targets");
    assert_eq!(targets["targets"], Json::Array(Vec::new()), "{targets}");

    // Slack: a correctly signed request is answered in the channel.
    let slack = url("/v1/chat/slack");
    let timestamp = now_s().to_string();
    let body = form("carol", &format!("this is my mac {device}"), "ignored");
    let signature = slack_sign(SLACK_SECRET, &timestamp, &body);
    let headers = [
        ("X-Slack-Request-Timestamp", timestamp.as_str()),
        ("X-Slack-Signature", signature.as_str()),
    ];
    let (status, reply) = post_form(&slack, &headers, &body);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["response_type"], "ephemeral",
        "the claim link is for carol only"
    );
    assert!(
        reply["text"].as_str().unwrap_or("").contains("/claim/"),
        "{reply}"
    );
    // Carol's device, as her claim from Mattermost records it: owned by her platform identity.
    let (status, body) = send(
        "POST",
        &url("/v1/people"),
        Some(TOKEN),
        Some(&format!(
            r#"{{"name": "carol", "mac": "{device}", "added_by": "mattermost:{USER_ID}"}}"#
        )),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(people(&agent).as_array().map(Vec::len), Some(2));

    // Replay of the signed body with the text changed: refused, nothing forgotten.
    let tampered = form("carol", "forget me", "ignored");
    let (status, reply) = post_form(&slack, &headers, &tampered);
    assert_eq!(status, 401, "{reply}");
    assert!(
        reply["error"].as_str().unwrap_or("").contains("signature"),
        "{reply}"
    );
    // Signed with another secret: refused.
    let forged = slack_sign("not-the-secret", &timestamp, &tampered);
    let (status, _) = post_form(
        &slack,
        &[
            ("X-Slack-Request-Timestamp", timestamp.as_str()),
            ("X-Slack-Signature", forged.as_str()),
        ],
        &tampered,
    );
    assert_eq!(status, 401);
    // Correctly signed but 10 minutes old: refused as a replay.
    let old = (now_s() - 600).to_string();
    let old_signature = slack_sign(SLACK_SECRET, &old, &tampered);
    let (status, reply) = post_form(
        &slack,
        &[
            ("X-Slack-Request-Timestamp", old.as_str()),
            ("X-Slack-Signature", old_signature.as_str()),
        ],
        &tampered,
    );
    assert_eq!(status, 401, "{reply}");
    assert!(
        reply["error"].as_str().unwrap_or("").contains("5 minutes"),
        "{reply}"
    );
    // No signature at all.
    let (status, _) = post_form(&slack, &[], &tampered);
    assert_eq!(status, 401);
    assert_eq!(
        people(&agent).as_array().map(Vec::len),
        Some(2),
        "refused requests changed nothing"
    );

    // Mattermost: token in the form, or in the Authorization header.
    let mattermost = url("/v1/chat/mattermost");
    let (status, reply) = post_form(
        &mattermost,
        &[],
        &form("carol", "who's in", MATTERMOST_TOKEN),
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["response_type"], "in_channel");
    assert!(
        reply["text"].as_str().unwrap_or("").contains("ada, carol"),
        "{reply}"
    );
    // An outgoing webhook repeats its trigger word at the start of the text: it is taken off.
    let mut with_trigger = form("carol", "office who's in", MATTERMOST_TOKEN);
    with_trigger.push_str("&trigger_word=office");
    let (status, reply) = post_form(&mattermost, &[], &with_trigger);
    assert_eq!(status, 200, "{reply}");
    assert!(
        reply["text"].as_str().unwrap_or("").contains("ada, carol"),
        "trigger word stripped: {reply}"
    );
    // Someone else calling themselves carol acts for nobody: identity is the user id.
    let impostor = form_as("carol", "U0IMPOSTOR", "forget me", MATTERMOST_TOKEN);
    let (status, reply) = post_form(&mattermost, &[], &impostor);
    assert_eq!(status, 200, "{reply}");
    assert!(
        reply["text"]
            .as_str()
            .unwrap_or("")
            .contains("nothing to forget"),
        "{reply}"
    );
    let body = serde_json::json!({ "user": "carol", "platform": "mattermost",
                                   "user_id": "U0IMPOSTOR", "text": "forget me" })
    .to_string();
    let (status, reply) = send("POST", &url("/v1/chat"), Some(TOKEN), Some(&body));
    assert_eq!(status, 200, "{reply}");
    assert!(
        reply["text"]
            .as_str()
            .unwrap_or("")
            .contains("nothing to forget"),
        "{reply}"
    );
    let mine = form_as("carol", "U0IMPOSTOR", "my devices", MATTERMOST_TOKEN);
    let (_, reply) = post_form(&mattermost, &[], &mine);
    assert!(
        !reply["text"].as_str().unwrap_or("").contains(&device),
        "{reply}"
    );
    // The same user id on another platform is another person.
    let timestamp = now_s().to_string();
    let other_platform = form("carol", "forget me", "ignored");
    let signature = slack_sign(SLACK_SECRET, &timestamp, &other_platform);
    let signed = [
        ("X-Slack-Request-Timestamp", timestamp.as_str()),
        ("X-Slack-Signature", signature.as_str()),
    ];
    let (status, reply) = post_form(&slack, &signed, &other_platform);
    assert_eq!(status, 200, "{reply}");
    assert!(
        reply["text"]
            .as_str()
            .unwrap_or("")
            .contains("nothing to forget"),
        "{reply}"
    );
    let (status, _) = send(
        "POST",
        &url("/v1/chat"),
        Some(TOKEN),
        Some(r#"{"user": "carol", "platform": "mattermost", "text": "forget me"}"#),
    );
    assert_eq!(status, 400, "platform without user_id");
    assert_eq!(
        people(&agent).as_array().map(Vec::len),
        Some(2),
        "nothing forgotten for a borrowed name"
    );
    let auth = format!("Token {MATTERMOST_TOKEN}");
    let (status, reply) = post_form(
        &mattermost,
        &[("Authorization", auth.as_str())],
        &form("carol", "forget me", ""),
    );
    assert_eq!(status, 200, "{reply}");
    assert!(
        reply["text"]
            .as_str()
            .unwrap_or("")
            .contains("Forgotten, carol"),
        "{reply}"
    );
    assert_eq!(people(&agent).as_array().map(Vec::len), Some(1));
    let (status, _) = post_form(&mattermost, &[], &form("ada", "forget me", "wrong-token"));
    assert_eq!(status, 401);
    let (status, _) = post_form(
        &mattermost,
        &[("Authorization", "Token wrong")],
        &form("ada", "forget me", ""),
    );
    assert_eq!(status, 401);
    assert_eq!(people(&agent)[0]["name"], "ada", "ada is still registered");
}

#[test]
fn platforms_off_until_configured() {
    let root = tempfile::tempdir().expect("tempdir");
    let agent = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-nochat",
            ..AgentSpec::default()
        },
    );
    let (status, reply) = post_form(
        &format!("{}/v1/chat/slack", agent.api),
        &[],
        &form("ada", "who's in", ""),
    );
    assert_eq!(status, 404);
    assert!(
        reply["error"]
            .as_str()
            .unwrap_or("")
            .contains("chat.slack_signing_secret"),
        "{reply}"
    );
    let (status, reply) = post_form(
        &format!("{}/v1/chat/mattermost", agent.api),
        &[],
        &form("ada", "who's in", ""),
    );
    assert_eq!(status, 404);
    assert!(
        reply["error"]
            .as_str()
            .unwrap_or("")
            .contains("chat.mattermost_token"),
        "{reply}"
    );
    // Without api.token, /v1/chat is open (as every other write).
    let (status, reply) = send(
        "POST",
        &format!("{}/v1/chat", agent.api),
        None,
        Some(r#"{"user": "ada", "text": "help"}"#),
    );
    assert_eq!(status, 200, "{reply}");
    assert!(reply["text"].as_str().unwrap_or("").contains("forget me"));
}
