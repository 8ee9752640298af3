//! "i am aa:bb:cc:dd:ee:ff", "forget me" and "forget aa:bb:…": a person's devices, keyed by the
//! chat user's name. Plans `Key::Person` writes (entries and tombstones); never writes itself.

use officemesh_sensors::MacAddr;

use super::{Plan, View};
use crate::state::key::validate_label;
use crate::state::{Key, PersonInfo, Replica, Value};

/// The reply to a MAC address the grammar could not use: what is wrong and how to find the
/// right one.
pub(super) fn bad_mac(text: &str, reason: &str) -> Plan {
    Plan::say(format!(
        "{}: {reason}. Write it as six hex pairs, like \"i am aa:bb:cc:dd:ee:ff\" (on a phone: Settings → About → Wi-Fi address; turn off the private/random address for the office Wi-Fi).",
        if text.is_empty() { "No MAC address".to_string() } else { format!("\"{text}\" is not a usable MAC address") }
    ))
}

/// The chat user as a person name, or the reply saying why it cannot be one.
fn person_name(user: &str) -> Result<String, Plan> {
    let name = user.trim();
    validate_label("name", name)
        .map(|()| name.to_string())
        .map_err(|err| {
            Plan::say(format!(
                "I can't use your user name as a person's name: {err}."
            ))
        })
}

/// The user's person name and the key that registers `mac` to them, or the reply saying why the
/// user name cannot be a person's name.
fn registration(user: &str, mac: MacAddr) -> Result<(String, Key), Plan> {
    let name = person_name(user)?;
    let key = Key::Person {
        name: name.clone(),
        mac,
    };
    Ok((name, key))
}

fn owners_of(replica: &Replica, mac: MacAddr) -> Vec<String> {
    replica
        .live()
        .filter_map(|(key, _)| match key {
            Key::Person { name, mac: m } if *m == mac => Some(name.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn register(view: &View<'_>, user: &str, mac: MacAddr) -> Plan {
    let (name, key) = match registration(user, mac) {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    if view.replica.value(&key).is_some() {
        return Plan::say(format!(
            "You're already registered with {mac}, {name}: nothing to do."
        ));
    }
    let mut reply = format!("Got it, {name}: {mac} is yours.");
    let others: Vec<String> = owners_of(view.replica, mac);
    if !others.is_empty() {
        reply.push_str(&format!(
            " Note: it is also registered to {}.",
            others.join(", ")
        ));
    }
    if mac.is_locally_administered() {
        reply.push_str(" Careful: this is a randomized (private) address, and your phone may change it; turn off \"private Wi-Fi address\" for the office network.");
    }
    let seen_recently = view.replica.live().any(|(key, value)| match (key, value) {
        (Key::Mac { mac: m, .. }, Value::Mac(seen)) => {
            *m == mac && view.now_ms.saturating_sub(seen.last_seen_ms) <= view.consider_home_ms
        }
        _ => false,
    });
    if seen_recently {
        reply.push_str(" I can see it on the network right now, so you count as in.");
    } else {
        reply.push_str(" I'll count you in when I see it on the network.");
    }
    Plan {
        reply,
        writes: vec![(
            key,
            Some(Value::Person(PersonInfo {
                added_by: format!("chat:{name}"),
            })),
        )],
    }
}

fn macs_of(replica: &Replica, name: &str) -> Vec<MacAddr> {
    replica
        .live()
        .filter_map(|(key, _)| match key {
            Key::Person { name: n, mac } if n == name => Some(*mac),
            _ => None,
        })
        .collect()
}

pub(super) fn forget_me(view: &View<'_>, user: &str) -> Plan {
    let name = match person_name(user) {
        Ok(name) => name,
        Err(plan) => return plan,
    };
    let macs = macs_of(view.replica, &name);
    if macs.is_empty() {
        return Plan::say(format!(
            "I don't have any device registered for you, {name}: nothing to forget."
        ));
    }
    let listed: Vec<String> = macs.iter().map(MacAddr::to_string).collect();
    Plan {
        reply: format!("Forgotten, {name}: I removed {}.", listed.join(", ")),
        writes: macs
            .into_iter()
            .map(|mac| {
                (
                    Key::Person {
                        name: name.clone(),
                        mac,
                    },
                    None,
                )
            })
            .collect(),
    }
}

pub(super) fn forget(view: &View<'_>, user: &str, mac: MacAddr) -> Plan {
    let (name, key) = match registration(user, mac) {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    if view.replica.value(&key).is_some() {
        return Plan {
            reply: format!("Forgotten: {mac} is no longer yours, {name}."),
            writes: vec![(key, None)],
        };
    }
    let others = owners_of(view.replica, mac);
    if others.is_empty() {
        Plan::say(format!(
            "{mac} isn't registered to anyone: nothing to forget."
        ))
    } else {
        Plan::say(format!(
            "{mac} is registered to {}, not to you. They can say \"forget me\", or an admin can remove it (DELETE /v1/people/<name>/{mac}).",
            others.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;
    use crate::state::query::Completeness;

    #[test]
    fn register_and_forget_write_person_entries() {
        let mut office = office();
        let plan = tell(&office, "i am b8:27:eb:00:00:03");
        assert_has(&plan.reply, "Got it, carol");
        assert!(
            plan.reply.contains("right now"),
            "it is on the network: {}",
            plan.reply
        );
        let key = Key::Person {
            name: "carol".into(),
            mac: mac(3),
        };
        assert_eq!(plan.writes.len(), 1);
        assert_eq!(plan.writes[0].0, key);
        office.apply(&plan);
        let again = tell(&office, "i'm b8-27-eb-00-00-03");
        assert!(again.writes.is_empty(), "registering twice writes nothing");
        assert_has(&again.reply, "already registered");
        assert!(ask(&office, "who's in").contains("ada, bob, carol"));

        let second = tell(&office, "this is my mac 02:00:00:00:00:09");
        assert_has(&second.reply, "randomized");
        office.apply(&second);

        let not_mine = tell(&office, "forget b8:27:eb:00:00:01");
        assert!(not_mine.writes.is_empty());
        assert_has(&not_mine.reply, "registered to ada");

        let forget = tell(&office, "forget me");
        assert_eq!(forget.writes.len(), 2, "both of carol's devices");
        assert!(
            forget.writes.iter().all(|(_, value)| value.is_none()),
            "tombstones"
        );
        office.apply(&forget);
        assert!(office.replica.value(&key).is_none());
        let nothing = tell(&office, "forget me");
        assert!(nothing.writes.is_empty());
        assert_has(&nothing.reply, "nothing to forget");

        let bad_user = run(
            &office,
            &Completeness::default(),
            "a/b",
            "i am b8:27:eb:00:00:04",
        );
        assert!(bad_user.writes.is_empty());
        assert_has(&bad_user.reply, "'/'");
    }
}
