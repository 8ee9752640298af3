//! "when did ada get in today?", "has bob left?", "who was in yesterday / this week / since
//! 9?": from the opt-in attendance history (`attendance/<name>/<day>`: first and last time in
//! that day), with the live presence for today. With history off the reply says so plainly.
//! Reads the replica, writes nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Timelike};

use super::attendance::{find, presence, HISTORY_OFF};
use super::{caveats, with_caveats, View};
use crate::chat::lexicon::When;
use crate::chat::text::clock_text;
use crate::state::presence::{attendance, day_of};
use crate::state::{query, Key, Value};

const DAY_MS: u64 = 86_400_000;

/// The days `when` covers, oldest first, and how to say them ("today", "on Monday").
fn days(view: &View<'_>, when: When) -> (Vec<String>, String) {
    let back = |n: u64| day_of(view.now_ms.saturating_sub(n * DAY_MS));
    let weekday = local(view).map_or(0, |t| t.weekday().num_days_from_monday());
    match when {
        When::Now | When::Today | When::SinceHour(_) => (vec![back(0)], "today".into()),
        When::Yesterday => (vec![back(1)], "yesterday".into()),
        When::Weekday(day) => {
            let ago = (weekday + 7 - u32::from(day)) % 7;
            let name = [
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
            ]
            .get(usize::from(day))
            .copied()
            .unwrap_or("Sunday");
            let said = if ago == 0 {
                "today".to_string()
            } else {
                format!("on {name} ({})", back(u64::from(ago)))
            };
            (vec![back(u64::from(ago))], said)
        }
        When::LastWeek => (
            (u64::from(weekday) + 1..=u64::from(weekday) + 7)
                .rev()
                .map(back)
                .collect(),
            "last week".into(),
        ),
        When::ThisWeek => (
            (0..=u64::from(weekday)).rev().map(back).collect(),
            "this week".into(),
        ),
    }
}

/// "09:12": the time of day, for a day already said ("yesterday").
fn hm(view: &View<'_>, ms: u64) -> String {
    clock_text(ms, ms, view.offset)
}

fn local(view: &View<'_>) -> Option<DateTime<chrono::FixedOffset>> {
    DateTime::from_timestamp_millis(i64::try_from(view.now_ms).ok()?)
        .map(|t| t.with_timezone(&view.offset))
}

/// Today's `hour`:00 local time, in ms.
fn today_at(view: &View<'_>, hour: u8) -> u64 {
    local(view).map_or(0, |now| {
        let since_midnight = u64::from(now.num_seconds_from_midnight()) * 1000;
        let midnight = view.now_ms.saturating_sub(since_midnight);
        midnight + u64::from(hour) * 3_600_000
    })
}

pub(super) fn arrived(view: &View<'_>, person: &str, when: When) -> String {
    let answer = presence(view);
    let found = match find(&answer, person) {
        Ok(found) => found,
        Err(super::Instead(reply)) => return reply,
    };
    let name = &found.name;
    let now = if found.present {
        format!("{name} is in right now.")
    } else {
        format!("{name} isn't in right now.")
    };
    if view.history_days == 0 {
        return format!("{HISTORY_OFF} {now}");
    }
    let (days, said) = days(view, when);
    let kept = attendance(view.replica, name);
    let text = match days.iter().find_map(|day| kept.get(day)) {
        Some((first, _)) => format!(
            "{name} got in at {} {said} (first seen then). {now}",
            hm(view, *first)
        ),
        None => format!("I didn't see {name} in {said}. {now}"),
    };
    with_caveats(text, caveats(view, None, "people"))
}

/// "was bob in yesterday?", "did ada come in this week?": the days of `when` they were in.
pub(super) fn was_in(view: &View<'_>, person: &str, when: When) -> String {
    let answer = presence(view);
    let found = match find(&answer, person) {
        Ok(found) => found,
        Err(super::Instead(reply)) => return reply,
    };
    let name = &found.name;
    if view.history_days == 0 {
        let now = if found.present { "is" } else { "isn't" };
        return format!("{HISTORY_OFF} {name} {now} in right now.");
    }
    let (days, said) = days(view, when);
    let kept = attendance(view.replica, name);
    let seen: Vec<String> = days
        .iter()
        .filter_map(|day| {
            let (first, last) = kept.get(day)?;
            let span = format!("{}–{}", hm(view, *first), hm(view, *last));
            let weekday = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map(|date| date.format("%A").to_string());
            Some(match weekday {
                Ok(weekday) if days.len() > 1 => format!("{weekday} {span}"),
                _ => span,
            })
        })
        .collect();
    let text = if seen.is_empty() {
        format!("No, I didn't see {name} in {said}.")
    } else {
        format!("Yes, {name} was in {said}: {}.", seen.join(", "))
    };
    with_caveats(text, caveats(view, None, "people"))
}

pub(super) fn left(view: &View<'_>, person: &str, when: When) -> String {
    let answer = presence(view);
    let found = match find(&answer, person) {
        Ok(found) => found,
        Err(super::Instead(reply)) => return reply,
    };
    let name = &found.name;
    let (days, said) = days(view, when);
    let today = days.last().is_some_and(|d| *d == day_of(view.now_ms));
    if found.present && today {
        return with_caveats(
            format!("No, {name} is still in."),
            caveats(view, None, "people"),
        );
    }
    if view.history_days == 0 {
        return format!("{name} isn't in right now. {HISTORY_OFF}");
    }
    let kept = attendance(view.replica, name);
    let text = match days.iter().rev().find_map(|day| kept.get(day)) {
        Some((_, last)) => format!(
            "{name} left around {} {said} (last seen then).",
            hm(view, *last)
        ),
        None => format!("I didn't see {name} in {said}."),
    };
    with_caveats(text, caveats(view, None, "people"))
}

pub(super) fn who_was_in(view: &View<'_>, when: When) -> String {
    if view.history_days == 0 {
        return format!("{HISTORY_OFF} Ask \"who's in?\" for right now.");
    }
    let (days, said) = days(view, when);
    let since = match when {
        When::SinceHour(hour) => Some(today_at(view, hour)),
        _ => None,
    };
    // One pass over the replica: each person's (first, last) on the asked days.
    let mut kept: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for (key, value) in view.replica.live() {
        if let (Key::Attendance { name, day }, Value::Attendance(seen)) = (key, value) {
            if days.contains(day) && since.is_none_or(|from| seen.last_in_ms >= from) {
                let slot = kept.entry(name.to_lowercase()).or_default();
                slot.push((seen.first_in_ms, seen.last_in_ms));
            }
        }
    }
    // Earliest arrival first ("who came in first today").
    let mut lines: Vec<(u64, String)> = Vec::new();
    for person in query::people(view.replica) {
        match kept.get(&person.name.to_lowercase()).map(Vec::as_slice) {
            None | Some([]) => {}
            Some([(first, last)]) => lines.push((
                *first,
                format!("{} {}–{}", person.name, hm(view, *first), hm(view, *last)),
            )),
            Some(more) => lines.push((0, format!("{} ({} days)", person.name, more.len()))),
        }
    }
    lines.sort();
    let count = match lines.len() {
        1 => "1 person".to_string(),
        n => format!("{n} people"),
    };
    let lines: Vec<String> = lines.into_iter().map(|(_, line)| line).collect();
    let said = match since {
        Some(from) => format!("since {}", clock_text(from, view.now_ms, view.offset)),
        None => said,
    };
    let text = if lines.is_empty() {
        format!("Nobody I know was in {said}.")
    } else {
        let mut heading = said;
        if let Some(first) = heading.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        format!("{heading}, {count}: {}.", lines.join(", "))
    };
    with_caveats(text, caveats(view, None, "people"))
}
