//! Authenticating chat platforms' requests: Slack's signed requests (`X-Slack-Signature` v0,
//! HMAC-SHA256 over `v0:{timestamp}:{raw body}` with the signing secret, at most five minutes
//! old) and Mattermost's slash-command token. Pure: the current time is passed in; no I/O.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a Slack request's timestamp may be from now (replay window), in seconds.
pub const SLACK_MAX_AGE_S: u64 = 5 * 60;

/// Why a platform request is refused. Messages say what to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("X-Slack-Request-Timestamp is not a number of seconds")]
    BadTimestamp,
    #[error(
        "request timestamp is {age_s} s away from now (more than 5 minutes): replayed or clock off"
    )]
    Stale { age_s: u64 },
    #[error("signature does not match (check chat.slack_signing_secret)")]
    BadSignature,
    #[error("token does not match (check chat.mattermost_token)")]
    BadToken,
}

/// `v0=<hex HMAC-SHA256>` of `v0:{timestamp}:{body}` with `secret`: what Slack sends.
pub fn slack_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    match slack_mac(secret, timestamp, body) {
        Some(mac) => format!("v0={}", hex::encode(mac.finalize().into_bytes())),
        None => String::new(),
    }
}

/// The HMAC over Slack's base string (`None` only if HMAC refused the key, which it never does:
/// HMAC takes keys of any length).
fn slack_mac(secret: &str, timestamp: &str, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    Some(mac)
}

/// Checks a Slack request: the timestamp within [`SLACK_MAX_AGE_S`] of `now_s`, and the
/// signature over exactly these body bytes (compared in constant time).
pub fn verify_slack(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_s: u64,
) -> Result<(), VerifyError> {
    let timestamp = timestamp.ok_or(VerifyError::MissingHeader("X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(VerifyError::MissingHeader("X-Slack-Signature"))?;
    let sent_s: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let age_s = now_s.abs_diff(sent_s);
    if age_s > SLACK_MAX_AGE_S {
        return Err(VerifyError::Stale { age_s });
    }
    let given = signature
        .trim()
        .strip_prefix("v0=")
        .and_then(|hex_text| hex::decode(hex_text).ok())
        .ok_or(VerifyError::BadSignature)?;
    slack_mac(secret, timestamp.trim(), body)
        .ok_or(VerifyError::BadSignature)?
        .verify_slice(&given)
        .map_err(|_| VerifyError::BadSignature)
}

/// Checks a Mattermost slash command: the form's `token` field, or `Authorization: Token <t>`,
/// must equal the configured token.
pub fn verify_mattermost(
    expected: &str,
    form_token: Option<&str>,
    authorization: Option<&str>,
) -> Result<(), VerifyError> {
    let from_header = authorization.and_then(|value| value.trim().strip_prefix("Token "));
    let candidates = [form_token, from_header];
    let matches = candidates
        .iter()
        .flatten()
        .any(|given| constant_time_eq(given.trim().as_bytes(), expected.as_bytes()));
    if matches {
        Ok(())
    } else {
        Err(VerifyError::BadToken)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's documented example (api.slack.com "Verifying requests from Slack").
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TIMESTAMP: &str = "1531420618";
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIGNATURE: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slack_documented_example_verifies() {
        assert_eq!(
            slack_signature(SLACK_SECRET, SLACK_TIMESTAMP, SLACK_BODY.as_bytes()),
            SLACK_SIGNATURE
        );
        let now = 1_531_420_618 + 10;
        assert_eq!(
            verify_slack(
                SLACK_SECRET,
                Some(SLACK_TIMESTAMP),
                Some(SLACK_SIGNATURE),
                SLACK_BODY.as_bytes(),
                now
            ),
            Ok(())
        );
    }

    #[test]
    fn slack_rejects_tampering_staleness_and_missing_headers() {
        let now = 1_531_420_618;
        let tampered = SLACK_BODY.replace("text=&", "text=forget+me&");
        let check = |ts: Option<&str>, sig: Option<&str>, body: &str, now: u64| {
            verify_slack(SLACK_SECRET, ts, sig, body.as_bytes(), now)
        };
        assert_eq!(
            check(Some(SLACK_TIMESTAMP), Some(SLACK_SIGNATURE), &tampered, now),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(
                Some(SLACK_TIMESTAMP),
                Some(SLACK_SIGNATURE),
                SLACK_BODY,
                now + 301
            ),
            Err(VerifyError::Stale { age_s: 301 })
        );
        assert_eq!(
            check(
                Some(SLACK_TIMESTAMP),
                Some(SLACK_SIGNATURE),
                SLACK_BODY,
                now - 400
            ),
            Err(VerifyError::Stale { age_s: 400 })
        );
        assert_eq!(
            check(Some("1531420619"), Some(SLACK_SIGNATURE), SLACK_BODY, now),
            Err(VerifyError::BadSignature),
            "the timestamp is signed too"
        );
        assert_eq!(
            check(None, Some(SLACK_SIGNATURE), SLACK_BODY, now),
            Err(VerifyError::MissingHeader("X-Slack-Request-Timestamp"))
        );
        assert_eq!(
            check(Some(SLACK_TIMESTAMP), None, SLACK_BODY, now),
            Err(VerifyError::MissingHeader("X-Slack-Signature"))
        );
        assert_eq!(
            check(Some("soon"), Some(SLACK_SIGNATURE), SLACK_BODY, now),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            check(Some(SLACK_TIMESTAMP), Some("v0=zz"), SLACK_BODY, now),
            Err(VerifyError::BadSignature)
        );
        let other_secret = verify_slack(
            "another-secret",
            Some(SLACK_TIMESTAMP),
            Some(SLACK_SIGNATURE),
            SLACK_BODY.as_bytes(),
            now,
        );
        assert_eq!(other_secret, Err(VerifyError::BadSignature));
    }

    #[test]
    fn mattermost_token_from_form_or_header() {
        assert_eq!(verify_mattermost("t0k", Some("t0k"), None), Ok(()));
        assert_eq!(verify_mattermost("t0k", None, Some("Token t0k")), Ok(()));
        assert_eq!(
            verify_mattermost("t0k", Some("nope"), Some("Token t0k")),
            Ok(())
        );
        assert_eq!(
            verify_mattermost("t0k", Some("t0"), None),
            Err(VerifyError::BadToken)
        );
        assert_eq!(
            verify_mattermost("t0k", None, Some("Bearer t0k")),
            Err(VerifyError::BadToken)
        );
        assert_eq!(
            verify_mattermost("t0k", None, None),
            Err(VerifyError::BadToken)
        );
    }
}
