//! `officemesh network`: devices on the office network (`GET /v1/network`), as a table. Talks
//! HTTP only through `crate::client`.

use super::{now_ms, print_note, ClientArgs};
use crate::client;
use crate::state::query::{NetworkAnswer, NetworkRow};

pub fn run(args: &ClientArgs) -> anyhow::Result<()> {
    let answer = args.client()?.get("/v1/network")?;
    let Some(answer) = args.decode_unless_json::<NetworkAnswer>(answer)? else {
        return Ok(());
    };
    let now = now_ms();
    let rows: Vec<Vec<String>> = answer
        .devices
        .iter()
        .map(|device| device_row(device, now))
        .collect();
    print!(
        "{}",
        client::table(
            &["mac", "ip", "seen by", "last seen", "owner", "flags"],
            &rows
        )
    );
    print_note(&answer.completeness);
    Ok(())
}

fn device_row(device: &NetworkRow, now_ms: u64) -> Vec<String> {
    let mut flags = Vec::new();
    if device.present {
        flags.push("present");
    }
    if device.randomized {
        flags.push("randomized-mac");
    }
    vec![
        device.mac.to_string(),
        device.ip.clone(),
        device.observer_name.clone(),
        client::age(now_ms.saturating_sub(device.last_seen_ms)),
        device.owners.join(", "),
        flags.join(" "),
    ]
}
