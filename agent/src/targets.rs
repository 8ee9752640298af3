//! Room targets' removal, one rule for every face: [`removal`] plans it (pure: the stored
//! `target/…` keys to tombstone) and [`remove`] makes it durable. `DELETE /v1/targets/{room}`
//! (and so `officemesh targets remove`) calls [`remove`]; the chat command "remove the kitchen
//! target" plans with [`removal`] and its writes go through the same `StateHandle::write_durable`.
//! Only the target is written: an alert open for it is cleared by the alert loop
//! (`alerts::evaluate` clears orphans), which posts the clear to `chat.alert_room` and the
//! webhook once per cluster. Writing the cleared alert here would silence that post. Touches no
//! socket.

use officemesh_sensors::Quantity;

use crate::shared::{StateHandle, WriteError};
use crate::state::{Key, Replica, Value};

/// The stored keys of `room`'s targets for `quantity` (`None`: every quantity), the room
/// matched case-insensitively: tombstoning them removes the targets. Empty when the room has
/// no such target. Pure.
pub fn removal(replica: &Replica, room: &str, quantity: Option<Quantity>) -> Vec<Key> {
    replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (
                Key::Target {
                    room: r,
                    quantity: q,
                },
                Value::Target(_),
            ) if r.eq_ignore_ascii_case(room) && quantity.is_none_or(|wanted| wanted == *q) => {
                Some(key.clone())
            }
            _ => None,
        })
        .collect()
}

/// Removes `room`'s target for `quantity` (`None`: every quantity) as [`removal`] plans it,
/// each removal committed before the next. Returns the quantities removed: empty when the room
/// had no such target.
pub async fn remove(
    state: &StateHandle,
    room: &str,
    quantity: Option<Quantity>,
) -> Result<Vec<Quantity>, WriteError> {
    let keys = removal(&state.replica(), room, quantity);
    let mut removed = Vec::new();
    for key in keys {
        if let Key::Target { quantity, .. } = &key {
            removed.push(*quantity);
        }
        state.write_durable(key, None).await?;
    }
    Ok(removed)
}
