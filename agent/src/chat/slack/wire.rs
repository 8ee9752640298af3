//! Slack's Socket Mode wire format (pure): reading frames (`hello`, `disconnect`, envelopes)
//! and `events_api` message events, and the acknowledgement Slack expects. No I/O.

use serde_json::{json, Value as Json};

/// One Socket Mode frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Hello,
    /// Slack wants this connection gone (`refresh_requested`, `warning`, `link_disabled`, …).
    Disconnect {
        reason: String,
    },
    /// Anything with an `envelope_id` (to acknowledge); `kind` is its `type`.
    Envelope {
        envelope_id: String,
        kind: String,
        payload: Json,
        retry_attempt: u64,
    },
    Other,
}

/// Reads one text frame.
pub fn read_frame(text: &str) -> Frame {
    let Ok(frame) = serde_json::from_str::<Json>(text) else {
        return Frame::Other;
    };
    if let Some(envelope_id) = frame["envelope_id"].as_str() {
        return Frame::Envelope {
            envelope_id: envelope_id.to_string(),
            kind: frame["type"].as_str().unwrap_or_default().to_string(),
            payload: frame["payload"].clone(),
            retry_attempt: frame["retry_attempt"].as_u64().unwrap_or(0),
        };
    }
    match frame["type"].as_str() {
        Some("hello") => Frame::Hello,
        Some("disconnect") => Frame::Disconnect {
            reason: frame["reason"].as_str().unwrap_or_default().to_string(),
        },
        _ => Frame::Other,
    }
}

/// The acknowledgement Slack expects for an envelope.
pub fn ack(envelope_id: &str) -> String {
    json!({ "envelope_id": envelope_id }).to_string()
}

/// A message event worth looking at.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackMessage {
    pub channel: String,
    pub ts: String,
    /// The thread to answer in: the question's thread, or the question itself.
    pub thread_ts: String,
    pub user: String,
    pub text: String,
    pub direct: bool,
    pub mentioned: bool,
    pub from_bot: bool,
}

/// Reads an `events_api` payload; `None` for events the bot ignores (edits, joins, a channel
/// `message` that mentions the bot — its `app_mention` twin is the one answered).
pub fn read_event(payload: &Json, bot_user: &str) -> Option<SlackMessage> {
    let event = &payload["event"];
    let kind = event["type"].as_str()?;
    if !matches!(kind, "message" | "app_mention") {
        return None;
    }
    let subtype = event["subtype"].as_str().unwrap_or_default();
    if !matches!(subtype, "" | "thread_broadcast" | "bot_message") {
        return None;
    }
    let channel = event["channel"].as_str()?.to_string();
    let ts = event["ts"].as_str()?.to_string();
    let text = event["text"].as_str().unwrap_or_default().to_string();
    let user = event["user"].as_str().unwrap_or_default().to_string();
    let direct = event["channel_type"] == "im";
    let mention = format!("<@{bot_user}>");
    if kind == "message" && !direct && !bot_user.is_empty() && text.contains(&mention) {
        return None;
    }
    let from_bot = event.get("bot_id").is_some_and(|id| !id.is_null())
        || subtype == "bot_message"
        || (!bot_user.is_empty() && user == bot_user);
    Some(SlackMessage {
        thread_ts: event["thread_ts"].as_str().unwrap_or(&ts).to_string(),
        channel,
        ts,
        user,
        text,
        direct,
        mentioned: kind == "app_mention",
        from_bot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_as_slack_documents_them() {
        assert_eq!(
            read_frame(
                r#"{"type":"hello","num_connections":1,"debug_info":{"host":"applink-1"},"connection_info":{"app_id":"A1"}}"#
            ),
            Frame::Hello
        );
        assert_eq!(
            read_frame(
                r#"{"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"applink-1"}}"#
            ),
            Frame::Disconnect {
                reason: "refresh_requested".into()
            }
        );
        let envelope = read_frame(
            r#"{"envelope_id":"57d12c34-e2e2","type":"events_api","accepts_response_payload":false,"retry_attempt":1,"retry_reason":"timeout","payload":{"event":{"type":"message"}}}"#,
        );
        match envelope {
            Frame::Envelope {
                envelope_id,
                kind,
                retry_attempt,
                ..
            } => {
                assert_eq!(envelope_id, "57d12c34-e2e2");
                assert_eq!(kind, "events_api");
                assert_eq!(retry_attempt, 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(read_frame("not json"), Frame::Other);
        assert_eq!(ack("57d12c34-e2e2"), r#"{"envelope_id":"57d12c34-e2e2"}"#);
    }

    fn event(event: Json) -> Json {
        json!({ "team_id": "T1", "api_app_id": "A1", "event": event, "type": "event_callback", "event_id": "Ev1" })
    }

    #[test]
    fn events_that_are_answered_and_those_that_are_not() {
        let channel_message = event(json!({
            "type": "message", "channel": "C1", "user": "U1", "text": "officemesh, who's in?",
            "ts": "1700000000.000100", "channel_type": "channel"
        }));
        let message = read_event(&channel_message, "UBOT").expect("a message");
        assert_eq!(message.thread_ts, "1700000000.000100");
        assert!(!message.direct && !message.mentioned && !message.from_bot);

        let in_thread = event(json!({
            "type": "message", "channel": "C1", "user": "U1", "text": "officemesh status",
            "ts": "1700000000.000200", "thread_ts": "1700000000.000100", "channel_type": "channel"
        }));
        assert_eq!(
            read_event(&in_thread, "UBOT").expect("message").thread_ts,
            "1700000000.000100"
        );

        let mention_as_message = event(json!({
            "type": "message", "channel": "C1", "user": "U1", "text": "<@UBOT> who's in?",
            "ts": "1700000000.000300", "channel_type": "channel"
        }));
        assert_eq!(
            read_event(&mention_as_message, "UBOT"),
            None,
            "its app_mention twin answers"
        );
        let mention = event(json!({
            "type": "app_mention", "channel": "C1", "user": "U1", "text": "<@UBOT> who's in?",
            "ts": "1700000000.000300"
        }));
        assert!(read_event(&mention, "UBOT").expect("mention").mentioned);

        let direct = event(json!({
            "type": "message", "channel": "D1", "user": "U1", "text": "who's in?",
            "ts": "1700000000.000400", "channel_type": "im"
        }));
        assert!(read_event(&direct, "UBOT").expect("dm").direct);

        let from_bot = event(json!({
            "type": "message", "channel": "C1", "user": "UBOT", "bot_id": "B1",
            "text": "officemesh, who's in?", "ts": "1700000000.000500", "channel_type": "channel"
        }));
        assert!(read_event(&from_bot, "UBOT").expect("seen").from_bot);

        let edit = event(json!({
            "type": "message", "subtype": "message_changed", "channel": "C1",
            "ts": "1700000000.000600", "channel_type": "channel"
        }));
        assert_eq!(read_event(&edit, "UBOT"), None);
        assert_eq!(
            read_event(&event(json!({"type": "reaction_added"})), "UBOT"),
            None
        );
    }
}
