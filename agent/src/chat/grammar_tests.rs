//! The grammar's own tests: fixed phrasings, bad MACs and sets, no substring matching.
use super::*;

fn mac(text: &str) -> MacAddr {
    text.parse().expect("test MAC")
}

fn who() -> Command {
    Command::WhoIsIn { room: None }
}

fn reading(room: Option<&str>, quantity: Quantity) -> Command {
    Command::Reading {
        room: room.map(str::to_string),
        quantity,
    }
}

fn set(room: &str, quantity: Quantity, value: f64) -> Command {
    Command::SetTarget {
        room: room.into(),
        quantity,
        value,
    }
}

#[test]
fn phrasings_parse_to_their_commands() {
    use Quantity::{Humidity, Sound, Temperature};
    let ada = mac("aa:bb:cc:dd:ee:01");
    let rows: Vec<(&str, Command)> = vec![
        // Who is in: apostrophe variants, typos, punctuation, spacing.
        ("who's at the office?", who()),
        ("Who’s at the office?", who()),
        ("who`s at the office", who()),
        ("whos in", who()),
        ("WHOS IN???", who()),
        ("who is here", who()),
        ("who is here?", who()),
        ("anyone in the office?", who()),
        ("who's in the office", who()),
        ("who is at work", who()),
        ("  who   is    in   the   office  ", who()),
        ("whos in teh office", who()),
        ("who's in the ofice", who()),
        ("hwo is in the office", who()),
        ("is anybody here?", who()),
        ("is there anyone in the office", who()),
        ("any one in?", who()),
        ("hey, who's around today?", who()),
        ("@officemesh who is in right now", who()),
        ("<@U024BE7LH> whos here", who()),
        ("who", who()),
        (
            "who's in the meeting room?",
            Command::WhoIsIn {
                room: Some("meeting room".into()),
            },
        ),
        // Register: "i am", "i'm", "this is my mac", separators.
        ("i am aa:bb:cc:dd:ee:01", Command::Register { mac: ada }),
        ("I'm AA:BB:CC:DD:EE:01", Command::Register { mac: ada }),
        ("i’m aa-bb-cc-dd-ee-01", Command::Register { mac: ada }),
        ("im aa:bb:cc:dd:ee:01.", Command::Register { mac: ada }),
        ("iam aabbccddee01", Command::Register { mac: ada }),
        (
            "this is my mac aa:bb:cc:dd:ee:01",
            Command::Register { mac: ada },
        ),
        (
            "this is my mac: aa:bb:cc:dd:ee:01",
            Command::Register { mac: ada },
        ),
        (
            "my mac address is aa:bb:cc:dd:ee:01",
            Command::Register { mac: ada },
        ),
        ("my phone is aabb.ccdd.ee01", Command::Register { mac: ada }),
        (
            "register aa:bb:cc:dd:ee:01 please",
            Command::Register { mac: ada },
        ),
        // Forget.
        ("forget me", Command::ForgetMe),
        ("Forget me!", Command::ForgetMe),
        ("forgt me please", Command::ForgetMe),
        ("forget my macs", Command::ForgetMe),
        ("forget aa:bb:cc:dd:ee:01", Command::Forget { mac: ada }),
        (
            "forget my phone aa-bb-cc-dd-ee-01",
            Command::Forget { mac: ada },
        ),
        // Readings.
        (
            "meeting room temp",
            reading(Some("meeting room"), Temperature),
        ),
        (
            "Meeting Room temperature?",
            reading(Some("meeting room"), Temperature),
        ),
        (
            "meeting room temprature",
            reading(Some("meeting room"), Temperature),
        ),
        (
            "meting room temp",
            reading(Some("meting room"), Temperature),
        ),
        ("lobby humidity", reading(Some("lobby"), Humidity)),
        ("lobby hum", reading(Some("lobby"), Humidity)),
        ("kitchen sound", reading(Some("kitchen"), Sound)),
        ("kitchen noise level", reading(Some("kitchen"), Sound)),
        (
            "what's the temperature in the meeting room?",
            reading(Some("meeting room"), Temperature),
        ),
        ("whats the lobby temp", reading(Some("lobby"), Temperature)),
        (
            "how warm is it in the lobby",
            reading(Some("lobby"), Temperature),
        ),
        ("how loud is the kitchen", reading(Some("kitchen"), Sound)),
        ("temp", reading(None, Temperature)),
        ("temperature?", reading(None, Temperature)),
        ("humidty", reading(None, Humidity)),
        ("temp lobby", reading(Some("lobby"), Temperature)),
        (
            "hows the temperature in the lobby?",
            reading(Some("lobby"), Temperature),
        ),
        (
            "What's the humidity in the kitchen?",
            reading(Some("kitchen"), Humidity),
        ),
        ("Who is in the office right now?", who()),
        ("whose in", who()),
        ("who's in the office today?", who()),
        ("I AM AA-BB-CC-DD-EE-01", Command::Register { mac: ada }),
        // Targets.
        (
            "set meeting room temperature to 22",
            set("meeting room", Temperature, 22.0),
        ),
        (
            "set meeting room temp to 21.5",
            set("meeting room", Temperature, 21.5),
        ),
        (
            "Set the meeting room temp to 21,5",
            set("meeting room", Temperature, 21.5),
        ),
        (
            "set lobby temperature 22°C",
            set("lobby", Temperature, 22.0),
        ),
        ("set lobby to 23", set("lobby", Temperature, 23.0)),
        (
            "set kitchen humidity to 45%",
            set("kitchen", Humidity, 45.0),
        ),
        (
            "set target for lobby temp to 20.5",
            set("lobby", Temperature, 20.5),
        ),
        // Status and help.
        ("status", Command::Status),
        ("Status?", Command::Status),
        ("stauts", Command::Status),
        ("mesh status", Command::Status),
        ("how is the mesh", Command::Status),
        ("help", Command::Help),
        ("HELP!", Command::Help),
        ("hlep", Command::Help),
        ("?", Command::Help),
        ("", Command::Help),
        ("what can you do?", Command::Help),
    ];
    assert!(rows.len() >= 40);
    for (text, expected) in rows {
        assert_eq!(parse(text), expected, "parsing {text:?}");
    }
}

#[test]
fn bad_macs_get_a_reason() {
    for (text, reason_part) in [
        ("i am aa:bb:cc", "six pairs"),
        ("i'm aa:bb:cc:dd:ee:zz", "six pairs"),
        ("this is my mac banana", "six pairs"),
        ("i am 01:00:5e:00:00:01", "multicast"),
        ("i am ff:ff:ff:ff:ff:ff", "multicast"),
        ("i am 00:00:00:00:00:00", "not the address"),
        ("my mac is", "missing"),
        ("i am aa:bb:cc:dd:ee:01 aa:bb:cc:dd:ee:02", "one MAC"),
    ] {
        match parse(text) {
            Command::BadMac { reason, .. } => {
                assert!(reason.contains(reason_part), "{text:?}: {reason}")
            }
            other => panic!("{text:?} parsed as {other:?}"),
        }
    }
}

#[test]
fn bad_sets_say_what_is_missing() {
    for (text, reason_part) in [
        ("set meeting room temperature", "value"),
        ("set temperature to 22", "which room"),
        ("set lobby temp to 72f", "°C"),
        ("set lobby temp to 22 please do it", "end of that"),
    ] {
        match parse(text) {
            Command::BadSet { reason } => {
                assert!(reason.contains(reason_part), "{text:?}: {reason}")
            }
            other => panic!("{text:?} parsed as {other:?}"),
        }
    }
}

#[test]
fn no_substring_matching() {
    // "i am" inside other words, "who" inside other words, chatter: all unknown.
    for text in [
        "miami is nice",
        "i am hungry",
        "i am here",
        "whoever did this",
        "who is the admin",
        "forget it",
        "the weather is nice",
        "setup the printer",
        "whom",
    ] {
        assert!(
            matches!(parse(text), Command::Unknown { .. }),
            "{text:?} parsed as {:?}",
            parse(text)
        );
    }
}

#[test]
fn who_are_you_is_answered_with_help() {
    assert_eq!(parse("who are you?"), Command::Help);
    assert_eq!(
        parse("temperature is too high"),
        Command::Comfort {
            room: None,
            quantity: Quantity::Temperature,
            low: false
        }
    );
}

proptest::proptest! {
    /// Any text parses to some command (never a panic), and noise around a known command
    /// (case, punctuation, spaces) does not change it.
    #[test]
    fn any_text_parses(text in "\\PC{0,80}") {
        let _ = parse(&text);
    }

    #[test]
    fn case_and_punctuation_do_not_matter(
        upper in proptest::bool::ANY,
        punctuation in "[?!. ]{0,4}",
        spaces in " {1,3}",
    ) {
        let base = format!("who's{spaces}in{spaces}the office{punctuation}");
        let text = if upper { base.to_uppercase() } else { base };
        proptest::prop_assert_eq!(parse(&text), Command::WhoIsIn { room: None });
    }
}

#[test]
fn edit_distance_counts_swaps_as_one() {
    assert_eq!(edit_distance("teh", "the"), 1);
    assert_eq!(edit_distance("office", "office"), 0);
    assert_eq!(edit_distance("meting", "meeting"), 1);
    assert_eq!(edit_distance("temprature", "temperature"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
}

#[test]
fn attendance_questions() {
    let ada = || "ada".to_string();
    assert_eq!(
        parse("is ada in?"),
        Command::IsIn {
            people: vec![ada()]
        }
    );
    assert_eq!(
        parse("Is Ada at the office"),
        Command::IsIn {
            people: vec![ada()]
        }
    );
    assert_eq!(
        parse("when was ada last in?"),
        Command::LastIn {
            people: vec![ada()]
        }
    );
    assert_eq!(
        parse("when was Ada last here"),
        Command::LastIn {
            people: vec![ada()]
        }
    );
    assert_eq!(parse("how many people are in?"), Command::HowManyIn);
    assert_eq!(parse("how many are here"), Command::HowManyIn);
    assert_eq!(parse("is anyone in?"), Command::WhoIsIn { room: None });
}
