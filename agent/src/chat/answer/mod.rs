//! Executing a chat [`Command`] and rendering the reply: one file per command, as mini-redis'
//! `cmd/` does.
//!
//! [`plan`] is pure: over a [`View`] (a replica, what this node cannot reach, the peer table,
//! the time) it renders the reply and lists the writes the command needs. [`answer`] is the
//! thin layer over `Shared`: it builds the view, plans under the replica lock, then
//! makes the writes durable (`StateHandle::write_durable`) before the reply says they happened.
//!
//! Answers are partition-aware: when nodes are unreachable the reply says which, where, and
//! since when ("I can't reach pi-3 (meeting room) since 10:02, so I may be missing people
//! there."). Nothing here opens a socket.
//!
//! - this file: [`Reply`], [`View`], [`Plan`], the dispatch ([`plan`], [`answer`]), several
//!   people or days answered one line each, and the partition caveats every answer appends;
//! - `rooms` matches a typed room name to the rooms the replica knows (shared);
//! - `help` answers "help" and anything the grammar does not know;
//! - `who` answers "who's in?";
//! - `readings` answers "meeting room temp";
//! - `register` answers "i am aa:bb:…" (a claim link, privately), "forget me" and
//!   "forget aa:bb:…";
//! - `attendance` answers "is ada in?", "when was ada last in?", "how many people are in?";
//! - `history` answers "when did ada get in?", "has bob left?", "who was in yesterday?";
//! - `whom` finds the registered person a name means (any part of it; asks back on two);
//! - `comfort` answers "is it warm in here?", "which room is coldest?", "what rooms are there?";
//! - `targets` answers "set meeting room temperature to 22" and "remove the kitchen target"
//!   (the removal is `crate::targets::removal`, the HTTP API's too);
//! - `status` answers "status" and "any alerts?";
//! - `help` also answers thanks and greetings.

use chrono::{FixedOffset, Offset};
use officemesh_sensors::MacAddr;

use super::grammar::Command;
use super::text::clock_text;
use crate::crdt::NodeId;
use crate::peer::PeerStatus;
use crate::shared::Shared;
use crate::state::query::{Completeness, UnreachableNode};
use crate::state::{Key, Replica, Value};

mod attendance;
mod comfort;
mod help;
mod history;
mod people;
mod readings;
mod register;
mod rooms;
mod status;
mod targets;
mod who;
mod whom;

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod office_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod understood_tests;

pub use help::SHORT_HELP;
pub use targets::default_tolerance;

/// The reply to one chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    /// Only for the person who asked (it names their devices or holds their claim link):
    /// adapters send it ephemerally / privately where the platform allows, never to the whole
    /// channel.
    pub private: bool,
}

/// Who asks: the name to greet them by and the identity their devices are recorded under
/// (`PersonInfo::added_by`). "forget me" and "forget <mac>" act on the identity only, never on
/// the name, which a chat user may be able to choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asker {
    pub name: String,
    pub id: String,
}

impl Asker {
    /// An asker known by name only (HTTP slash commands, the CLI): the identity is the name,
    /// as claims recorded it before platform ids were (`claim:<name>`).
    pub fn named(name: &str) -> Asker {
        Asker {
            name: name.to_string(),
            id: format!("claim:{}", name.trim()),
        }
    }

    /// A chat platform's user: `platform` (`matrix`, `slack`, `mattermost`) and its stable
    /// user id (`@ada:example.org`, `U0123`, …); `name` is for greeting only.
    pub fn on(platform: &str, user_id: &str, name: &str) -> Asker {
        Asker {
            name: name.to_string(),
            id: format!("{platform}:{user_id}"),
        }
    }
}

/// Everything a command is answered from. Times in ms since the Unix epoch.
pub struct View<'a> {
    pub replica: &'a Replica,
    pub completeness: &'a Completeness,
    /// The gossip layer's peer table (empty when gossip is not running).
    pub peers: &'a [PeerStatus],
    pub self_node: NodeId,
    pub consider_home_ms: u64,
    /// `chat.alert_after_s`, for the reply to "set … to …".
    pub alert_after_s: u64,
    /// `presence.history_days` (0: no attendance history).
    pub history_days: u32,
    pub now_ms: u64,
    /// The local time zone, for "since 10:02".
    pub offset: FixedOffset,
    /// Clocks: `gossip.max_clock_offset_ms`, and how far this node's runs ahead of the mesh's
    /// median (ms; negative: behind; `None` until measured), for "status".
    pub clocks: (u64, Option<i64>),
}

/// A rendered reply and the writes it depends on (made before the reply is sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub reply: String,
    pub writes: Vec<(Key, Option<Value>)>,
    /// The reply is for the asker only (see [`Reply::private`]).
    pub private: bool,
    /// A claim link to issue for (person, MAC); its URL is appended to the reply.
    pub claim: Option<(String, MacAddr)>,
}

impl Plan {
    fn say(reply: impl Into<String>) -> Plan {
        Plan {
            reply: reply.into(),
            writes: Vec::new(),
            private: false,
            claim: None,
        }
    }

    /// The same reply, for the asker only.
    fn privately(mut self) -> Plan {
        self.private = true;
        self
    }
}

/// Executes `command` for `user` (known by name only, see [`Asker::named`]) against the agent.
pub async fn answer(shared: &Shared, user: &str, command: &Command, now_ms: u64) -> Reply {
    answer_for(shared, &Asker::named(user), command, now_ms).await
}

/// Executes `command` for `asker` against the agent: reads from the replica, writes durably.
pub async fn answer_for(shared: &Shared, asker: &Asker, command: &Command, now_ms: u64) -> Reply {
    let completeness = shared.mesh.completeness();
    let peers = shared.mesh.peers();
    let offset = chrono::Local::now().offset().fix();
    let planned = {
        let replica = shared.state.replica();
        let view = View {
            replica: &replica,
            completeness: &completeness,
            peers: &peers,
            self_node: shared.node,
            consider_home_ms: shared.config.presence.consider_home_s * 1000,
            alert_after_s: shared.config.chat.alert_after_s,
            history_days: shared.config.presence.history_days,
            now_ms,
            offset,
            clocks: (
                shared.config.gossip.max_clock_offset_ms,
                shared.mesh.own_clock_offset(),
            ),
        };
        plan_for(&view, asker, command)
    };
    for (key, value) in planned.writes {
        if let Err(err) = shared.state.write_durable(key.clone(), value).await {
            tracing::error!(key = %key, error = %err, "chat write failed");
            return Reply {
                text: format!("Sorry, I could not save that ({err}). Please try again."),
                private: planned.private,
            };
        }
    }
    let mut text = planned.reply;
    if let Some((person, mac)) = &planned.claim {
        let public_addr = shared.api_public_addr();
        text.push_str(&shared.presence.claims.link_for(
            &public_addr,
            person,
            &asker.id,
            *mac,
            now_ms,
        ));
    }
    Reply {
        text,
        private: planned.private,
    }
}

/// The reply to give instead of an answer when the question names nobody or no room this
/// office knows (or several): not a failure of the bot's, so not an error type.
pub(super) struct Instead(pub String);

/// Renders the reply to `command` from `user` and the writes it needs. Pure.
pub fn plan(view: &View<'_>, user: &str, command: &Command) -> Plan {
    match command {
        Command::Help => help::help(),
        Command::Unknown { text } | Command::Ask { text } => match understood(view, command) {
            Command::Unknown { .. } => help::unknown(text),
            understood => plan(view, user, &understood),
        },
        Command::Trend { room, quantity } => {
            Plan::say(readings::trend(view, room.as_deref(), *quantity))
        }
        Command::Compare { rooms, quantity } => Plan::say(comfort::compare(view, rooms, *quantity)),
        Command::Targets { room } => Plan::say(targets::list(view, room.as_deref())),
        Command::Comfortable { rooms } => Plan::say(comfort::comfortable(view, rooms)),
        Command::SetRange {
            room,
            quantity,
            low,
            high,
        } => targets::set_range(view, user, room, *quantity, (*low, *high)),
        Command::Thanks => help::thanks(),
        Command::Privacy => Plan::say(help::privacy(view.history_days)),
        Command::Greeting => help::greeting(),
        Command::Alerts => Plan::say(status::alerts(view)),
        Command::MyDevices => register::my_devices(view, &Asker::named(user)),
        Command::RemoveTarget { room, quantity } => {
            targets::remove_target(view, user, room, *quantity)
        }
        Command::Extreme { quantity, highest } => {
            Plan::say(comfort::extreme(view, *quantity, *highest))
        }
        Command::IsEmpty { room } => Plan::say(people::is_empty(view, room.as_deref())),
        Command::Rooms => Plan::say(comfort::rooms(view)),
        Command::Comfort {
            room,
            quantity,
            low,
        } => Plan::say(comfort::comfort(view, room.as_deref(), *quantity, *low)),
        Command::WhoIsIn { room } => Plan::say(who::who_is_in(view, room.as_deref())),
        Command::Reading { room, quantity } => {
            Plan::say(readings::readings(view, room.as_deref(), *quantity))
        }
        Command::Readings { room, quantities } => {
            Plan::say(readings::several(view, room.as_deref(), quantities))
        }
        Command::Status => Plan::say(status::status(view)),
        Command::BadMac { text, reason } => register::bad_mac(text, reason),
        Command::BadSet { reason } => targets::bad_set(reason),
        Command::Register { .. } | Command::ForgetMe | Command::Forget { .. } => {
            plan_for(view, &Asker::named(user), command)
        }
        Command::IsIn { .. }
        | Command::LastIn { .. }
        | Command::Arrived { .. }
        | Command::Left { .. }
        | Command::WasIn { .. }
        | Command::WhoWasIn { .. }
        | Command::HowManyIn => Plan::say(about_people(view, command)),
        Command::SetTarget {
            room,
            quantity,
            value,
        } => targets::set_target(view, user, room, *quantity, *value),
    }
}

/// The answers about people's presence and attendance: one line per person named, and per
/// day named ("were ada and bob in yesterday?", "monday vs wednesday"). Other commands are
/// [`plan`]'s (an empty reply, never reached).
fn about_people(view: &View<'_>, command: &Command) -> String {
    match command {
        Command::IsIn { people } => {
            line_each(view, people.iter().map(|p| attendance::is_in(view, p)))
        }
        Command::LastIn { people } => {
            line_each(view, people.iter().map(|p| attendance::last_in(view, p)))
        }
        Command::Arrived { people, when } => line_each(
            view,
            people.iter().map(|p| history::arrived(view, p, *when)),
        ),
        Command::Left { people, when } => {
            line_each(view, people.iter().map(|p| history::left(view, p, *when)))
        }
        Command::WasIn { people, days } => line_each(
            view,
            people.iter().flat_map(|person| {
                days.iter()
                    .map(move |when| history::was_in(view, person, *when))
            }),
        ),
        Command::WhoWasIn { days } => line_each(
            view,
            days.iter().map(|when| history::who_was_in(view, *when)),
        ),
        Command::HowManyIn => attendance::how_many_in(view),
        _ => String::new(),
    }
}

/// Like [`plan`], for an asker with a platform identity: device commands act on `asker.id`.
pub fn plan_for(view: &View<'_>, asker: &Asker, command: &Command) -> Plan {
    let command = &understood(view, command);
    match command {
        Command::Register { mac } => register::register(view, asker, *mac),
        Command::ForgetMe => register::forget_me(view, asker),
        Command::Forget { mac } => register::forget(view, asker, *mac),
        Command::MyDevices => register::my_devices(view, asker),
        _ => plan(view, &asker.name, command),
    }
}

/// `command`, or for a message the words alone did not explain, what it means knowing the
/// office's people and rooms ("ada?" names a registered person).
pub(super) fn understood(view: &View<'_>, command: &Command) -> Command {
    match command {
        Command::Unknown { text } | Command::Ask { text } => {
            crate::chat::grammar::parse_in(text, &rooms::lexicon(view.replica))
        }
        other => other.clone(),
    }
}

/// "I can't reach pi-3 (meeting room) since 10:02, so I may be missing {what} there." for each
/// unreachable node (only those in `room` when given).
/// Then "pi-3's clock is 58 min ahead; I'm ignoring its updates until it is fixed." for each node
/// whose updates are held back.
fn caveats(view: &View<'_>, room: Option<&str>, what: &str) -> Vec<String> {
    let in_room = |node_room: &str| room.is_none_or(|room| node_room.eq_ignore_ascii_case(room));
    let unreachable = view
        .completeness
        .unreachable
        .iter()
        .filter(|node| in_room(&node.room))
        .map(|node| caveat(view, node, what));
    let clock_ahead = view
        .completeness
        .clock_ahead
        .iter()
        .filter(|node| node.room.is_empty() || in_room(&node.room))
        .map(|node| format!("{}.", node.sentence()));
    unreachable.chain(clock_ahead).collect()
}

fn caveat(view: &View<'_>, node: &UnreachableNode, what: &str) -> String {
    let when = match node.since_ms {
        Some(since) => format!("since {}", clock_text(since, view.now_ms, view.offset)),
        None => format!("right now ({})", node.status),
    };
    format!(
        "I can't reach {} ({}) {when}, so I may be missing {what} there.",
        node.name, node.room
    )
}

/// Several answers about people ("monday vs wednesday", "ada and bob"), one after the other,
/// with the partition caveats they share said once, at the end (one answer: as it is).
fn line_each(view: &View<'_>, replies: impl Iterator<Item = String>) -> String {
    let caveats = caveats(view, None, "people");
    let mut lines: Vec<String> = Vec::new();
    for reply in replies {
        for line in reply.lines() {
            // The same sentence twice ("History is off here …") is said once.
            if !caveats.iter().chain(&lines).any(|said| said == line) {
                lines.push(line.to_string());
            }
        }
    }
    with_caveats(lines.join("\n"), caveats)
}

fn with_caveats(mut text: String, caveats: Vec<String>) -> String {
    for caveat in caveats {
        text.push('\n');
        text.push_str(&caveat);
    }
    text
}
