//! `officemesh readings`: latest readings (`GET /v1/readings`), optionally for one room or
//! quantity, as a table. Talks HTTP only through `crate::client`.

use clap::Args;

use super::{print_note, with_query, ClientArgs};
use crate::client;
use crate::state::query::{ReadingRow, ReadingsAnswer};
use crate::state::ReadingStatus;

#[derive(Debug, Args)]
pub struct ReadingsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Only this room.
    #[arg(long)]
    pub room: Option<String>,
    /// Only this quantity (temperature, humidity, sound).
    #[arg(long)]
    pub quantity: Option<String>,
}

pub fn run(args: &ReadingsArgs) -> anyhow::Result<()> {
    let mut params = Vec::new();
    if let Some(room) = &args.room {
        params.push(format!("room={}", client::path_segment(room)));
    }
    if let Some(quantity) = &args.quantity {
        params.push(format!("quantity={}", client::path_segment(quantity)));
    }
    let answer = args
        .client
        .client()?
        .get(&with_query("/v1/readings", &params))?;
    let Some(answer) = args.client.decode_unless_json::<ReadingsAnswer>(answer)? else {
        return Ok(());
    };
    let rows: Vec<Vec<String>> = answer.readings.iter().map(reading_row).collect();
    print!(
        "{}",
        client::table(
            &["room", "node", "sensor", "quantity", "value", "status", "age"],
            &rows
        )
    );
    print_note(&answer.completeness);
    Ok(())
}

fn reading_row(reading: &ReadingRow) -> Vec<String> {
    vec![
        reading.room.clone(),
        reading.node_name.clone(),
        reading.sensor.clone(),
        reading.quantity.to_string(),
        format!("{:.1} {}", reading.value, reading.unit),
        status_name(reading.status).to_string(),
        client::age(reading.age_ms),
    ]
}

/// The status as the API spells it.
fn status_name(status: ReadingStatus) -> &'static str {
    match status {
        ReadingStatus::Ok => "ok",
        ReadingStatus::Stale => "stale",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_api_spelling() {
        for status in [ReadingStatus::Ok, ReadingStatus::Stale] {
            let json = serde_json::to_value(status).expect("serializes");
            assert_eq!(json.as_str(), Some(status_name(status)));
        }
    }
}
