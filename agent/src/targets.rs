//! Room targets' write path shared by every face: [`remove`] deletes a room's target band (one
//! quantity or all), the one function `DELETE /v1/targets/{room}` (and so `officemesh targets
//! remove`) and the chat command call. An alert open for a removed target is cleared by the
//! alert loop (`alerts::evaluate` clears orphans, posted once per cluster). Writes go through
//! `Shared::write_durable`; touches no socket.

use officemesh_sensors::Quantity;

use crate::shared::{Shared, WriteError};
use crate::state::{Key, Value};

/// The quantities with a target in `room` (all of them, or only `quantity`), as the replica
/// holds them now.
pub fn quantities_with_target(
    shared: &Shared,
    room: &str,
    quantity: Option<Quantity>,
) -> Vec<Quantity> {
    shared
        .replica()
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (
                Key::Target {
                    room: r,
                    quantity: q,
                },
                Value::Target(_),
            ) if r == room && quantity.is_none_or(|wanted| wanted == *q) => Some(*q),
            _ => None,
        })
        .collect()
}

/// Removes `room`'s target for `quantity` (`None`: every quantity), each removal committed
/// before the next. Returns the quantities removed: empty when the room had no such target.
pub async fn remove(
    shared: &Shared,
    room: &str,
    quantity: Option<Quantity>,
) -> Result<Vec<Quantity>, WriteError> {
    let found = quantities_with_target(shared, room, quantity);
    for quantity in &found {
        let key = Key::Target {
            room: room.to_string(),
            quantity: *quantity,
        };
        shared.write_durable(key, None).await?;
    }
    Ok(found)
}
