//! How the bot writes numbers, ages and times of day ("21.5", "12 s", "10:02"): shared by chat
//! answers and alert messages. Pure: the time and the time zone are passed in.

use chrono::{DateTime, FixedOffset};

/// `HH:MM` in the view's time zone, with the date when not today.
pub fn clock_text(ms: u64, now_ms: u64, offset: FixedOffset) -> String {
    let to_local = |ms: u64| {
        DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
            .map(|time| time.with_timezone(&offset))
    };
    match (to_local(ms), to_local(now_ms)) {
        (Some(time), Some(now)) if time.date_naive() == now.date_naive() => {
            time.format("%H:%M").to_string()
        }
        (Some(time), _) => time.format("%b %-d %H:%M").to_string(),
        (None, _) => "an unknown time".to_string(),
    }
}

/// "3 s", "4 min", "2 h", "3 days".
pub fn age_text(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=89 => format!("{s} s"),
        90..=5399 => format!("{} min", (s + 30) / 60),
        5400..=172_799 => format!("{} h", (s + 1800) / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// A reading as people write it: at most two decimals, no trailing zeros.
pub fn number_text(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_763_901_720_000; // 2025-11-23 12:42 UTC
    const MINUTE: u64 = 60_000;

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).expect("UTC")
    }

    #[test]
    fn texts_for_numbers_ages_and_clocks() {
        assert_eq!(number_text(21.0), "21");
        assert_eq!(number_text(21.456), "21.46");
        assert_eq!(number_text(-0.001), "0");
        assert_eq!(age_text(12_000), "12 s");
        assert_eq!(age_text(5 * MINUTE), "5 min");
        assert_eq!(age_text(3 * 3600 * 1000), "3 h");
        assert_eq!(clock_text(NOW, NOW, utc()), "12:42");
        assert_eq!(
            clock_text(NOW - 24 * 60 * MINUTE, NOW, utc()),
            "Nov 22 12:42"
        );
        let plus_one = FixedOffset::east_opt(3600).expect("offset");
        assert_eq!(clock_text(NOW, NOW, plus_one), "13:42");
    }
}
