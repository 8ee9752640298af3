//! "i am aa:bb:cc:dd:ee:ff", "forget me" and "forget aa:bb:…": a person's devices, keyed by the
//! chat user's name. "i am" registers nothing itself: it plans a claim link (issued by
//! `answer`), which registers the MAC only when opened from that device, so nobody can tie a
//! colleague's phone to a name. Replies that name devices are private to the asker. Plans
//! `Key::Person` tombstones for "forget"; never writes itself.

use officemesh_sensors::MacAddr;

use super::{Plan, View};
use crate::state::key::validate_label;
use crate::state::{Key, Replica};

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
        Err(refusal) => return refusal.privately(),
    };
    if view.replica.value(&key).is_some() {
        return Plan::say(format!(
            "That device is already registered to you, {name}: nothing to do."
        ))
        .privately();
    }
    Plan {
        reply: format!(
            "{name}, to prove that device is yours, open this link on it (connected to the office Wi-Fi) within 10 minutes; it registers the device it is opened from, and only if that is the one you named: "
        ),
        writes: Vec::new(),
        private: true,
        claim: Some((name, mac)),
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

/// "my devices": the asker's registered devices, privately.
pub(super) fn my_devices(view: &View<'_>, user: &str) -> Plan {
    let name = match person_name(user) {
        Ok(name) => name,
        Err(plan) => return plan.privately(),
    };
    let macs = macs_of(view.replica, &name);
    let reply = if macs.is_empty() {
        format!("You have no devices registered, {name}. Say \"i am aa:bb:cc:dd:ee:ff\" with your phone's Wi-Fi MAC.")
    } else {
        let listed: Vec<String> = macs.iter().map(MacAddr::to_string).collect();
        format!(
            "Your devices, {name}: {}. Say \"forget me\" to remove them all.",
            listed.join(", ")
        )
    };
    Plan::say(reply).privately()
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
        private: true,
        claim: None,
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
            private: true,
            claim: None,
        };
    }
    let others = owners_of(view.replica, mac);
    let reply = if others.is_empty() {
        format!("{mac} isn't registered to anyone: nothing to forget.")
    } else {
        format!(
            "{mac} is registered to someone else, not to you. They can say \"forget me\", or an admin can remove it (DELETE /v1/people/<name>/{mac})."
        )
    };
    Plan::say(reply).privately()
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;
    use crate::state::query::Completeness;
    use crate::state::{PersonInfo, Value};

    #[test]
    fn i_am_plans_a_private_claim_link_and_writes_nothing() {
        let office = office();
        let plan = tell(&office, "i am b8:27:eb:00:00:03");
        assert!(
            plan.writes.is_empty(),
            "registration waits for the claim link"
        );
        assert!(plan.private, "the reply is for the asker only");
        assert_eq!(plan.claim, Some(("carol".to_string(), mac(3))));
        assert_has(&plan.reply, "open this link on it");
        assert!(
            !plan.reply.contains("b8:27:eb"),
            "no MAC in the reply: {}",
            plan.reply
        );
    }

    #[test]
    fn register_and_forget_write_person_entries() {
        let mut office = office();
        let key = Key::Person {
            name: "carol".into(),
            mac: mac(3),
        };
        // The claim link, once opened from the device, writes this entry.
        office.write(
            key.clone(),
            Some(Value::Person(PersonInfo {
                added_by: "claim:carol".into(),
            })),
        );
        let again = tell(&office, "i'm b8-27-eb-00-00-03");
        assert!(again.writes.is_empty(), "registering twice writes nothing");
        assert!(again.claim.is_none());
        assert_has(&again.reply, "already registered");
        assert!(ask(&office, "who's in").contains("ada, bob"));

        let not_mine = tell(&office, "forget b8:27:eb:00:00:01");
        assert!(not_mine.writes.is_empty());
        assert_has(&not_mine.reply, "registered to someone else");
        assert!(!not_mine.reply.contains("ada"), "does not say whose it is");

        office.write(
            Key::Person {
                name: "carol".into(),
                mac: mac(9),
            },
            Some(Value::Person(PersonInfo {
                added_by: "claim:carol".into(),
            })),
        );
        let mine = tell(&office, "my devices");
        assert!(mine.private, "device lists are for the asker only");
        assert_has(&mine.reply, "b8:27:eb:00:00:03");
        let forget = tell(&office, "forget me");
        assert!(forget.private);
        assert_eq!(forget.writes.len(), 2, "both of carol's devices");
        assert!(
            forget.writes.iter().all(|(_, value)| value.is_none()),
            "tombstones"
        );
        office.apply(&forget);
        assert!(office.replica.value(&key).is_none());
        assert_has(&ask(&office, "my devices"), "no devices registered");
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
        assert!(bad_user.claim.is_none());
        assert_has(&bad_user.reply, "'/'");
    }
}
