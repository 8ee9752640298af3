//! "i am aa:bb:cc:dd:ee:ff", "forget me" and "forget aa:bb:…": a person's devices, keyed by the
//! chat user's name and owned by their identity ([`Asker::id`], recorded by the claim as
//! `PersonInfo::added_by`): "forget" acts on the identity only, never on a name. "i am" registers nothing itself: it plans a claim link (issued by
//! `answer`), which registers the MAC only when opened from that device, so nobody can tie a
//! colleague's phone to a name. Replies that name devices are private to the asker. Plans
//! `Key::Person` tombstones for "forget"; never writes itself.

use officemesh_sensors::MacAddr;

use super::{Asker, Plan, View};
use crate::state::key::validate_label;
use crate::state::{Key, Replica, Value};

/// The reply to a MAC address the grammar could not use: what is wrong and how to find the
/// right one.
pub(super) fn bad_mac(text: &str, reason: &str) -> Plan {
    Plan::say(format!(
        "{}: {reason}. Write it as six hex pairs, like \"i am aa:bb:cc:dd:ee:ff\" (on a phone, the Wi-Fi address it shows for the office network — iPhone: Settings → Wi-Fi → (i) → Wi-Fi Address; Android: Wi-Fi → the network → Privacy or Advanced → MAC; not the hardware address in About).",
        if text.is_empty() { "No MAC address".to_string() } else { format!("\"{text}\" is not a usable MAC address") }
    ))
}

/// The asker's name as a person name, or the reply saying why it cannot be one.
fn person_name(asker: &Asker) -> Result<String, Plan> {
    let name = asker.name.trim();
    validate_label("name", name)
        .map(|()| name.to_string())
        .map_err(|err| {
            Plan::say(format!(
                "I can't use your user name as a person's name: {err}."
            ))
        })
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

/// The person entries that are the asker's, with `mac` only when given: those recorded under
/// the asker's platform identity (whatever name they carry); for an asker known by name only
/// ([`Asker::named`]: HTTP slash commands), those under that name, as before identities.
fn devices_of(replica: &Replica, asker: &Asker, mac: Option<MacAddr>) -> Vec<(String, MacAddr)> {
    let by_name = asker.id == Asker::named(&asker.name).id;
    replica
        .live()
        .filter_map(|(key, value)| match (key, value) {
            (Key::Person { name, mac: m }, Value::Person(info))
                if mac.is_none_or(|mac| mac == *m)
                    && (info.added_by == asker.id || (by_name && *name == asker.name.trim())) =>
            {
                Some((name.clone(), *m))
            }
            _ => None,
        })
        .collect()
}

fn tombstones(devices: &[(String, MacAddr)]) -> Vec<(Key, Option<Value>)> {
    devices
        .iter()
        .map(|(name, mac)| {
            let key = Key::Person {
                name: name.clone(),
                mac: *mac,
            };
            (key, None)
        })
        .collect()
}

pub(super) fn register(view: &View<'_>, asker: &Asker, mac: MacAddr) -> Plan {
    let name = match person_name(asker) {
        Ok(name) => name,
        Err(refusal) => return refusal.privately(),
    };
    if !devices_of(view.replica, asker, Some(mac)).is_empty() {
        return Plan::say(format!(
            "That device is already registered to you, {name}: nothing to do."
        ))
        .privately();
    }
    Plan {
        reply: format!(
            "{name}, to prove that device is yours, open this link on it (connected to the office Wi-Fi) within 10 minutes; it registers the device it is opened from, and only if that is the one you named. Phones use a private address per network: give the Wi-Fi address the phone shows for the office network (iPhone: Settings → Wi-Fi → (i) → Wi-Fi Address; Android: Wi-Fi → the network → Privacy or Advanced → MAC), not the one in About; opened from a device with another address, the link says which one it uses here: "
        ),
        writes: Vec::new(),
        private: true,
        claim: Some((name, mac)),
    }
}

/// "my devices": the asker's registered devices (by platform identity), privately.
pub(super) fn my_devices(view: &View<'_>, asker: &Asker) -> Plan {
    let name = match person_name(asker) {
        Ok(name) => name,
        Err(plan) => return plan.privately(),
    };
    let devices = devices_of(view.replica, asker, None);
    let reply = if devices.is_empty() {
        format!("You have no devices registered, {name}. Say \"i am aa:bb:cc:dd:ee:ff\" with your phone's Wi-Fi address for the office network.")
    } else {
        let listed: Vec<String> = devices.iter().map(|(_, mac)| mac.to_string()).collect();
        format!(
            "Your devices, {name}: {}. Say \"forget aa:bb:cc:dd:ee:ff\" with one of them to remove it, or \"forget me\" to remove them all.",
            listed.join(", ")
        )
    };
    Plan::say(reply).privately()
}

pub(super) fn forget_me(view: &View<'_>, asker: &Asker) -> Plan {
    let name = match person_name(asker) {
        Ok(name) => name,
        Err(plan) => return plan,
    };
    let devices = devices_of(view.replica, asker, None);
    if devices.is_empty() {
        return Plan::say(format!(
            "I don't have any device registered for you, {name}: nothing to forget."
        ))
        .privately();
    }
    let listed: Vec<String> = devices.iter().map(|(_, mac)| mac.to_string()).collect();
    Plan {
        private: true,
        claim: None,
        reply: format!("Forgotten, {name}: I removed {}.", listed.join(", ")),
        writes: tombstones(&devices),
    }
}

pub(super) fn forget(view: &View<'_>, asker: &Asker, mac: MacAddr) -> Plan {
    let name = match person_name(asker) {
        Ok(name) => name,
        Err(refusal) => return refusal.privately(),
    };
    let mine = devices_of(view.replica, asker, Some(mac));
    if !mine.is_empty() {
        return Plan {
            reply: format!("Forgotten: {mac} is no longer yours, {name}."),
            writes: tombstones(&mine),
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

    fn as_asker(office: &super::super::tests::Office, asker: &Asker, text: &str) -> Plan {
        let completeness = Completeness::default();
        let view = View {
            replica: &office.replica,
            completeness: &completeness,
            peers: &[],
            self_node: crate::crdt::NodeId(1),
            consider_home_ms: 180_000,
            alert_after_s: 300,
            history_days: 0,
            now_ms: 1,
            offset: chrono::FixedOffset::east_opt(0).expect("utc"),
            clocks: (5_000, None),
        };
        super::super::plan_for(&view, asker, &super::super::super::grammar::parse(text))
    }

    #[test]
    fn forget_acts_on_the_platform_identity_never_on_the_name() {
        let mut office = office();
        let carol = Asker::on("matrix", "@carol:example.org", "carol");
        let key = Key::Person {
            name: "carol".into(),
            mac: mac(3),
        };
        office.write(
            key.clone(),
            Some(Value::Person(PersonInfo {
                added_by: carol.id.clone(),
            })),
        );
        // Someone calling themselves carol on another server, or by display name.
        let impostor = Asker::on("matrix", "@carol:evil.example", "carol");
        let tried = as_asker(&office, &impostor, "forget me");
        assert!(tried.writes.is_empty(), "{tried:?}");
        assert!(!tried.reply.contains("b8:27:eb"), "{}", tried.reply);
        let by_mac = as_asker(&office, &impostor, "forget b8:27:eb:00:00:03");
        assert!(by_mac.writes.is_empty());
        assert_has(&by_mac.reply, "registered to someone else");
        let again = as_asker(&office, &impostor, "i am b8:27:eb:00:00:03");
        assert!(again.claim.is_some(), "a claim link, not 'already yours'");

        // carol herself, whatever name she goes by now.
        let renamed = Asker::on("matrix", "@carol:example.org", "Caroline");
        let forget = as_asker(&office, &renamed, "forget me");
        assert_eq!(forget.writes, vec![(key, None)]);
        assert!(forget.private);
    }
}
