//! Room names as people type them: the rooms the replica knows and the one a typed name means
//! ("meting room" is the meeting room). Shared by the who, readings and targets answers; reads
//! the replica, writes nothing.

use std::collections::BTreeSet;

use super::super::grammar::edit_distance;
use crate::state::{Key, Replica, Value};

/// How a room name someone typed matches the rooms this node knows.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RoomMatch {
    Exact(String),
    /// A close spelling of one known room ("meting room").
    Close(String),
    None,
}

/// Rooms this node knows: of nodes, readings and targets.
pub(super) fn known_rooms(replica: &Replica) -> BTreeSet<String> {
    replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Node(_), Value::Node(info)) => Some(info.room.clone()),
            (Key::Reading { .. }, Value::Reading(reading)) => Some(reading.room.clone()),
            (Key::Target { room, .. }, _) => Some(room.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn match_room(asked: &str, known: &BTreeSet<String>) -> RoomMatch {
    let asked = asked.trim().to_lowercase();
    if let Some(room) = known.iter().find(|room| room.to_lowercase() == asked) {
        return RoomMatch::Exact(room.clone());
    }
    let allowed = match asked.chars().count() {
        0..=3 => 0,
        4..=6 => 1,
        7..=12 => 2,
        _ => 3,
    };
    let mut scored: Vec<(usize, &String)> = known
        .iter()
        .map(|room| (edit_distance(&asked, &room.to_lowercase()), room))
        .filter(|(distance, _)| *distance <= allowed)
        .collect();
    scored.sort();
    match scored.as_slice() {
        [(best, room)] => {
            let _ = best;
            RoomMatch::Close((*room).clone())
        }
        [(best, room), (second, _), ..] if best < second => RoomMatch::Close((*room).clone()),
        _ => RoomMatch::None,
    }
}

pub(super) fn rooms_list(known: &BTreeSet<String>) -> String {
    if known.is_empty() {
        "I don't know any rooms yet".to_string()
    } else {
        format!(
            "rooms I know: {}",
            known.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    }
}

/// The room this node (the one answering) is in, for "in here".
pub(super) fn here(view: &super::View<'_>) -> Option<String> {
    crate::state::query::node_names(view.replica)
        .remove(&view.self_node)
        .map(|(_, room)| room)
        .filter(|room| !room.is_empty())
}

/// The known room `asked` means ("here" is this node's room) and a note when it was a guess;
/// `Err` holds the reply when no room matches.
pub(super) fn resolve(
    view: &super::View<'_>,
    asked: &str,
) -> Result<(String, String), super::Instead> {
    let known = known_rooms(view.replica);
    if asked == "here" {
        return here(view).map(|room| (room, String::new())).ok_or_else(|| {
            super::Instead(format!(
                "I don't know which room \"here\" is: name the room; {}.",
                rooms_list(&known)
            ))
        });
    }
    match match_room(asked, &known) {
        RoomMatch::Exact(room) => Ok((room, String::new())),
        RoomMatch::Close(room) => {
            let note = format!("(I took \"{asked}\" to mean {room}.) ");
            Ok((room, note))
        }
        RoomMatch::None => Err(super::Instead(format!(
            "I don't know a room called \"{asked}\"; {}.",
            rooms_list(&known)
        ))),
    }
}

/// The people and rooms this replica knows, for understanding a question.
pub(super) fn lexicon(replica: &Replica) -> crate::chat::understand::Lexicon {
    crate::chat::understand::Lexicon {
        people: crate::state::query::people(replica)
            .into_iter()
            .map(|row| row.name)
            .collect(),
        rooms: known_rooms(replica).into_iter().collect(),
    }
}
