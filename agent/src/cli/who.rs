//! `officemesh who`: registered people at the office (`GET /v1/presence`), as a table. Talks
//! HTTP only through `crate::client`.

use super::{now_ms, print_note, ClientArgs};
use crate::client;
use crate::state::query::{PersonPresence, PresenceAnswer};

pub fn run(args: &ClientArgs) -> anyhow::Result<()> {
    let answer = args.client()?.get("/v1/presence")?;
    let Some(answer) = args.decode_unless_json::<PresenceAnswer>(answer)? else {
        return Ok(());
    };
    let rows: Vec<Vec<String>> = answer
        .people
        .iter()
        .filter(|person| person.present)
        .map(|person| person_row(person, now_ms()))
        .collect();
    if rows.is_empty() {
        println!("Nobody registered is at the office right now.");
    } else {
        print!(
            "{}",
            client::table(&["name", "seen by", "last seen"], &rows)
        );
    }
    if answer.unknown_devices > 0 {
        println!(
            "(+{} unregistered device(s) on the network)",
            answer.unknown_devices
        );
    }
    print_note(&answer.completeness);
    Ok(())
}

/// Name, the nodes that saw any of their devices, and how long ago the latest sighting was.
fn person_row(person: &PersonPresence, now_ms: u64) -> Vec<String> {
    let seen_by: Vec<&str> = person
        .devices
        .iter()
        .flat_map(|device| device.seen_by.iter().map(String::as_str))
        .collect();
    let last = person
        .devices
        .iter()
        .filter_map(|device| device.last_seen_ms)
        .max()
        .map(|t| client::age(now_ms.saturating_sub(t)))
        .unwrap_or_default();
    vec![person.name.clone(), seen_by.join(", "), last]
}
