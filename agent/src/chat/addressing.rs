//! Whether a chat message is addressed to the bot, and what it asks once the address is taken
//! off: "officemesh, who's at the office?", "@officemesh status", "officemesh: temp in the
//! lobby", "hey officemesh …", "… , officemesh?", a platform mention (`<@U123>`, a Matrix pill),
//! or anything in a direct message. Messages from the bot itself or other bots never are.
//! Pure: text in, decision out.

/// One message as the adapters see it, for the addressing decision.
#[derive(Debug, Clone, Default)]
pub struct Said<'a> {
    pub text: &'a str,
    /// A direct message (a room of two, Slack `im`, Mattermost `D` channel).
    pub direct: bool,
    /// The platform says the bot is mentioned (Matrix `m.mentions`, Slack `app_mention`).
    pub mentioned: bool,
    /// Written by this bot's account or by any other bot.
    pub from_bot: bool,
}

/// Words people put before a name ("hey officemesh").
const GREETINGS: &[&str] = &["hey", "hi", "hello", "yo", "ok", "okay", "dear"];

/// The question in `said` when it is addressed to the bot named `bot_name` (or by one of the
/// platform's `mentions`, e.g. `<@U0BOT>` or `@officemesh:example.org`); `None` when it is not.
/// An address with nothing after it asks for help.
pub fn addressed(said: &Said<'_>, bot_name: &str, mentions: &[&str]) -> Option<String> {
    if said.from_bot {
        return None;
    }
    let mut names: Vec<String> = vec![
        bot_name.to_lowercase(),
        format!("@{}", bot_name.to_lowercase()),
    ];
    names.extend(
        mentions
            .iter()
            .filter(|m| !m.is_empty())
            .map(|m| m.to_lowercase()),
    );
    // Longest first: "@officemesh:example.org" before "@officemesh".
    names.sort_by_key(|name| std::cmp::Reverse(name.len()));
    let text = said.text.trim();
    if let Some(rest) = strip_leading(text, &names) {
        return Some(question(rest));
    }
    if let Some(rest) = strip_trailing(text, &names) {
        return Some(question(rest));
    }
    let mentioned_inside = mentions
        .iter()
        .filter(|m| !m.is_empty())
        .any(|mention| contains_word(text, mention));
    if said.direct || said.mentioned || mentioned_inside {
        let mut rest = text.to_string();
        for mention in mentions.iter().filter(|m| !m.is_empty()) {
            rest = replace_ignore_case(&rest, mention, " ");
        }
        return Some(question(rest.trim()));
    }
    None
}

/// Mattermost outgoing webhooks send the trigger word at the start of the text: take it off.
pub fn strip_trigger_word(text: &str, trigger: &str) -> String {
    let trigger = trigger.trim();
    if trigger.is_empty() {
        return text.trim().to_string();
    }
    strip_leading(text.trim(), &[trigger.to_lowercase()])
        .unwrap_or(text.trim())
        .to_string()
}

fn question(rest: &str) -> String {
    let rest = rest
        .trim_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ':' | ';' | '-'))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if rest.is_empty() || rest.chars().all(|c| c.is_ascii_punctuation()) {
        "help".to_string()
    } else {
        rest
    }
}

/// `text` without a leading name (after an optional greeting), when the name is a whole word.
fn strip_leading<'t>(text: &'t str, names: &[String]) -> Option<&'t str> {
    let lower = text.to_lowercase();
    // Lower-casing may change byte lengths outside ASCII: only cut where both agree.
    if lower.len() != text.len() {
        return None;
    }
    let mut start = 0;
    if let Some(greeting) = GREETINGS
        .iter()
        .find(|g| lower.starts_with(*g) && boundary(&lower, g.len()))
    {
        let after = &lower[greeting.len()..];
        let skipped = after.len() - after.trim_start_matches([' ', ',']).len();
        start = greeting.len() + skipped;
    }
    for name in names {
        if lower[start..].starts_with(name.as_str()) && boundary(&lower, start + name.len()) {
            let rest = &text[start + name.len()..];
            return Some(rest.trim_start_matches(|c: char| {
                c.is_whitespace() || matches!(c, ',' | ':' | ';' | '!' | '-')
            }));
        }
    }
    None
}

/// `text` without a trailing ", officemesh" (before the final punctuation).
fn strip_trailing<'t>(text: &'t str, names: &[String]) -> Option<&'t str> {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        return None;
    }
    let body = lower.trim_end_matches(['?', '!', '.', ' ']);
    for name in names {
        if let Some(before) = body.strip_suffix(name.as_str()) {
            let before_trimmed = before.trim_end();
            if before_trimmed.ends_with(',') {
                return Some(&text[..before_trimmed.len() - 1]);
            }
        }
    }
    None
}

/// Whether the byte at `at` ends a word (end of text or not a letter, digit, `_` or `.`+letter).
fn boundary(text: &str, at: usize) -> bool {
    match text[at..].chars().next() {
        None => true,
        Some(c) => {
            !(c.is_alphanumeric()
                || c == '_'
                || c == '-' && text[at + 1..].starts_with(char::is_alphanumeric))
        }
    }
}

fn contains_word(text: &str, word: &str) -> bool {
    let lower = text.to_lowercase();
    let word = word.to_lowercase();
    if lower.len() != text.len() {
        return lower.contains(&word);
    }
    lower.match_indices(&word).any(|(at, _)| {
        let before_ok = lower[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        before_ok && boundary(&lower, at + word.len())
    })
}

fn replace_ignore_case(text: &str, needle: &str, with: &str) -> String {
    let lower = text.to_lowercase();
    let needle = needle.to_lowercase();
    if lower.len() != text.len() || needle.is_empty() {
        return text.replace(&needle, with);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in lower.match_indices(&needle) {
        out.push_str(&text[last..at]);
        out.push_str(with);
        last = at + needle.len();
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_bot(text: &str) -> Option<String> {
        addressed(
            &Said {
                text,
                ..Said::default()
            },
            "officemesh",
            &["<@U0BOT>", "@officemesh:example.org"],
        )
    }

    #[test]
    fn addressed_by_name_in_every_usual_way() {
        let cases = [
            ("officemesh, who's at the office?", "who's at the office?"),
            ("@officemesh status", "status"),
            ("officemesh: temp in the lobby", "temp in the lobby"),
            ("Officemesh who's in", "who's in"),
            ("hey officemesh, is ada in?", "is ada in?"),
            ("Hi, officemesh: status", "status"),
            ("who's in, officemesh?", "who's in"),
            ("<@U0BOT> who's in?", "who's in?"),
            (
                "@officemesh:example.org: meeting room temp",
                "meeting room temp",
            ),
            ("so <@U0BOT> what's the temp", "so what's the temp"),
            ("officemesh", "help"),
            ("officemesh?", "help"),
        ];
        for (text, want) in cases {
            assert_eq!(to_bot(text).as_deref(), Some(want), "{text:?}");
        }
    }

    #[test]
    fn chatter_is_not_addressed() {
        for text in [
            "lunch anyone?",
            "who's at the office?",
            "officemeshes are neat",
            "the officemesh-dashboard is down",
            "I asked officemesh yesterday",
            "",
        ] {
            assert_eq!(to_bot(text), None, "{text:?}");
        }
    }

    #[test]
    fn direct_messages_and_mentions_always_are() {
        let said = |text, direct, mentioned| Said {
            text,
            direct,
            mentioned,
            from_bot: false,
        };
        assert_eq!(
            addressed(&said("who's in?", true, false), "officemesh", &[]).as_deref(),
            Some("who's in?")
        );
        assert_eq!(
            addressed(&said("officemesh, status", true, false), "officemesh", &[]).as_deref(),
            Some("status")
        );
        assert_eq!(
            addressed(
                &said("Office Bot: status", false, true),
                "officemesh",
                &["Office Bot"]
            )
            .as_deref(),
            Some("status")
        );
    }

    #[test]
    fn bots_are_never_answered() {
        let said = Said {
            text: "officemesh, who's in?",
            direct: true,
            mentioned: true,
            from_bot: true,
        };
        assert_eq!(addressed(&said, "officemesh", &[]), None);
    }

    #[test]
    fn other_bot_names() {
        let said = Said {
            text: "bloo, whos at the office?",
            ..Said::default()
        };
        assert_eq!(
            addressed(&said, "bloo", &[]).as_deref(),
            Some("whos at the office?")
        );
        assert_eq!(addressed(&said, "officemesh", &[]), None);
    }

    #[test]
    fn trigger_words_are_stripped() {
        assert_eq!(
            strip_trigger_word("office who's in?", "office"),
            "who's in?"
        );
        assert_eq!(strip_trigger_word("Office: status", "office"), "status");
        assert_eq!(strip_trigger_word("status", "office"), "status");
        assert_eq!(strip_trigger_word("offices?", "office"), "offices?");
        assert_eq!(strip_trigger_word(" status ", ""), "status");
        assert_eq!(
            crate::chat::grammar::parse(&strip_trigger_word("office who's in", "office")),
            crate::chat::Command::WhoIsIn { room: None }
        );
    }
}
