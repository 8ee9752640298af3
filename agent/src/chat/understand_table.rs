//! The table of phrasings (how colleagues ask, typos and punctuation included) → intent and
//! entities, and the label both this table and the held-out lists (`heldout/*.txt`) compare.

use super::super::grammar::{parse, Command};
use super::When;

/// "temperature,humidity".
fn names(quantities: &[officemesh_sensors::Quantity]) -> String {
    let names: Vec<&str> = quantities.iter().map(|q| q.as_str()).collect();
    names.join(",")
}

/// "who_was" for one day, "who_was:mon,wed" for several.
fn who_was(days: &[When]) -> String {
    match days {
        [_] | [] => "who_was".into(),
        _ => {
            let days: Vec<&str> = days.iter().map(day_label).collect();
            format!("who_was:{}", days.join(","))
        }
    }
}

/// "mon", "yesterday", "last week": a day in a label.
fn day_label(when: &When) -> &'static str {
    const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    match when {
        When::Now => "now",
        When::Today => "today",
        When::Yesterday => "yesterday",
        When::Weekday(day) => WEEKDAYS.get(usize::from(*day)).copied().unwrap_or("?"),
        When::ThisWeek => "this week",
        When::LastWeek => "last week",
        When::SinceHour(_) => "since",
    }
}

/// "is_in:ada", "reading:kitchen:temperature", "reading:*:humidity", "comfort:here".
pub(crate) fn label(command: &Command) -> String {
    let room = |room: &Option<String>| room.clone().unwrap_or_else(|| "*".into());
    match command {
        Command::WhoIsIn { .. } => "who".into(),
        Command::IsIn { people } => format!("is_in:{}", people.join(" and ")),
        Command::LastIn { people } => format!("last_in:{}", people.join(" and ")),
        Command::Arrived { people, .. } => format!("arrived:{}", people.join(" and ")),
        Command::Left { people, .. } => format!("left:{}", people.join(" and ")),
        Command::HowManyIn => "how_many".into(),
        Command::WhoWasIn { days } => who_was(days),
        Command::Reading { room: r, quantity } => {
            format!("reading:{}:{}", room(r), quantity.as_str())
        }
        Command::Extreme { quantity, highest } => format!(
            "extreme:{}:{}",
            quantity.as_str(),
            if *highest { "high" } else { "low" }
        ),
        Command::Comfort { room: r, .. } => format!("comfort:{}", room(r)),
        Command::Readings {
            room: r,
            quantities: q,
        } => format!("readings:{}:{}", room(r), names(q)),
        Command::WasIn { people, .. } => format!("was_in:{}", people.join(" and ")),
        Command::Trend { room: r, quantity } => {
            format!("trend:{}:{}", room(r), quantity.as_str())
        }
        Command::Compare { rooms, quantity } => {
            format!("compare:{}:{}", rooms.join(","), quantity.as_str())
        }
        Command::Targets { room: r } => format!("targets:{}", room(r)),
        Command::Comfortable { rooms } if rooms.len() > 1 => {
            format!("comfortable:{}", rooms.join(","))
        }
        Command::Comfortable { rooms } => format!("comfortable:{}", room(&rooms.first().cloned())),
        Command::SetRange { room, quantity, .. } => {
            format!("set_range:{room}:{}", quantity.as_str())
        }
        Command::Ask { .. } => "ask".into(),
        Command::Alerts => "alerts".into(),
        Command::Status => "status".into(),
        Command::Help => "help".into(),
        Command::Thanks => "thanks".into(),
        Command::Privacy => "privacy".into(),
        Command::Greeting => "greet".into(),
        Command::Rooms => "rooms".into(),
        Command::IsEmpty { .. } => "empty".into(),
        Command::Register { .. } => "register".into(),
        Command::ForgetMe => "forget_me".into(),
        Command::Forget { .. } => "forget".into(),
        Command::MyDevices => "my_devices".into(),
        Command::SetTarget { room, quantity, .. } => {
            format!("set_target:{room}:{}", quantity.as_str())
        }
        Command::RemoveTarget { room, quantity } => {
            format!("remove_target:{room}:{}", quantity.as_str())
        }
        Command::BadMac { .. } => "bad_mac".into(),
        Command::BadSet { .. } => "bad_set".into(),
        Command::Unknown { .. } => "unknown".into(),
    }
}

const TABLE: &[(&str, &str)] = &[
    // Who is in.
    ("who's in?", "who"),
    ("Who’s in?", "who"),
    ("whos in", "who"),
    ("who is here", "who"),
    ("anyone in?", "who"),
    ("is anybody in the office", "who"),
    ("who is at the office right now?", "who"),
    ("Who is around today?", "who"),
    ("@officemesh who's in", "who"),
    ("officemesh, who's in?", "who"),
    ("who's in 👀", "who"),
    ("hwo is in", "who"),
    ("anyone in the ofice", "who"),
    ("somebody here?", "who"),
    ("who is coming today in office?", "who"),
    ("who turned up today", "who_was"),
    ("who showed up", "who_was"),
    ("is there anyone around", "who"),
    ("who is in the office now?!", "who"),
    ("WHO IS IN", "who"),
    ("who is in here?", "who"),
    // One person: is in / where.
    ("is ada in", "is_in:ada"),
    ("is ada in?", "is_in:ada"),
    ("Is Ada in?", "is_in:ada"),
    ("where's ada?", "is_in:ada"),
    ("where’s ada?", "is_in:ada"),
    ("wheres ada", "is_in:ada"),
    ("where is ada", "is_in:ada"),
    ("where is ada lovelace?", "is_in:ada lovelace"),
    ("is ada lovelace in", "is_in:ada lovelace"),
    ("ada here?", "is_in:ada"),
    ("ada around?", "is_in:ada"),
    ("is ada around", "is_in:ada"),
    ("is ada arond", "is_in:ada"),
    ("has bob arrived yet", "is_in:bob"),
    ("has bob arrived?", "is_in:bob"),
    ("is bob in yet", "is_in:bob"),
    ("is bob already here?", "is_in:bob"),
    ("Bob is here?", "is_in:bob"),
    ("is grace at the office?", "is_in:grace"),
    ("is grace in the office today", "is_in:grace"),
    ("did grace come in today?", "is_in:grace"),
    ("is mr turing here", "is_in:turing"),
    ("where is alan at the moment", "is_in:alan"),
    ("wheres alan??", "is_in:alan"),
    ("officemesh, is ada in?", "is_in:ada"),
    ("ada in?", "is_in:ada"),
    (
        "Hello! can you tell me if ada is in the office?",
        "is_in:ada",
    ),
    ("do you know where ada is?", "is_in:ada"),
    ("is ada present", "is_in:ada"),
    ("is ada onsite", "is_in:ada"),
    // Arrivals, departures, last in.
    ("when did ada get in today", "arrived:ada"),
    ("when did ada get in?", "arrived:ada"),
    ("when did ada arrive", "arrived:ada"),
    ("what time did ada arrive", "arrived:ada"),
    ("What time did Ada come in today?", "arrived:ada"),
    ("when did bob arrive yesterday", "arrived:bob"),
    ("when did grace arive", "arrived:grace"),
    ("at what time did alan came this morning", "arrived:alan"),
    ("when did ada show up", "arrived:ada"),
    ("when did ada get in on monday", "arrived:ada"),
    ("has bob left?", "left:bob"),
    ("has bob left yet", "left:bob"),
    ("did bob leave", "left:bob"),
    ("did bob go home", "left:bob"),
    ("when did bob leave yesterday", "left:bob"),
    ("is bob gone", "left:bob"),
    ("when did grace leave", "left:grace"),
    ("did ada leave alredy", "left:ada"),
    ("when was ada last in?", "last_in:ada"),
    ("when was ada last here", "last_in:ada"),
    ("when was alan last seen", "last_in:alan"),
    ("ada last seen", "last_in:ada"),
    ("when did you last see grace", "last_in:grace"),
    ("when was grace in last", "last_in:grace"),
    ("last time ada was in", "last_in:ada"),
    (
        "when was the last time grace was in the office",
        "last_in:grace",
    ),
    ("when was ada in", "last_in:ada"),
    // Who was in on a day, how many.
    ("who was in yesterday", "who_was"),
    ("who was in yesterday?", "who_was"),
    ("who was in yday", "who_was"),
    ("who was in this week", "who_was"),
    ("who was at the office on monday", "who_was"),
    ("who was in last monday?", "who_was"),
    ("who was in last friday", "who_was"),
    ("who's been in since 9", "who_was"),
    ("who has been in since 9am", "who_was"),
    ("who came in today", "who_was"),
    ("attendance monday", "who_was"),
    ("attendance this week", "who_was"),
    ("who was here yesterday", "who_was"),
    ("how many people are in?", "how_many"),
    ("how many are here", "how_many"),
    ("how many ppl in", "how_many"),
    ("How many persons are in office now?", "how_many"),
    ("headcount", "how_many"),
    ("head count?", "how_many"),
    ("how many of us are in today", "how_many"),
    // Two days compared: who was in on each.
    ("monday vs wednesday", "who_was:mon,wed"),
    ("monday v wednesday", "who_was:mon,wed"),
    ("who was in on monday vs wednesday", "who_was:mon,wed"),
    ("compare monday and tuesday attendance", "who_was:mon,tue"),
    ("Mon vs. Fri?", "who_was:mon,fri"),
    ("yesterday vs today", "who_was:yesterday,today"),
    (
        "who was in last week vs this week",
        "who_was:last week,this week",
    ),
    // Readings.
    ("meeting room temp", "reading:meeting room:temperature"),
    (
        "meeting room temperature?",
        "reading:meeting room:temperature",
    ),
    ("meetng room temp", "reading:meetng room:temperature"),
    ("lab temp", "reading:lab:temperature"),
    ("temp in the kitchen", "reading:kitchen:temperature"),
    ("temp in kitchn", "reading:kitchn:temperature"),
    (
        "what's the temperature in the lab?",
        "reading:lab:temperature",
    ),
    ("whats the temprature in the lab", "reading:lab:temperature"),
    ("temperature in all rooms", "reading:*:temperature"),
    ("temperature everywhere", "reading:*:temperature"),
    ("temprature evrywhere", "reading:*:temperature"),
    ("temps", "reading:*:temperature"),
    ("temp?", "reading:*:temperature"),
    ("temperatures in every room", "reading:*:temperature"),
    (
        "Tell me the temperatures everywhere please",
        "reading:*:temperature",
    ),
    (
        "I want to know the temperature of the kitchen please",
        "reading:kitchen:temperature",
    ),
    ("humidity all rooms", "reading:*:humidity"),
    ("humidity in all the rooms", "reading:*:humidity"),
    ("humidty lab", "reading:lab:humidity"),
    ("kitchen humidity", "reading:kitchen:humidity"),
    ("how humid is it in the lobby", "reading:lobby:humidity"),
    ("noise lobby", "reading:lobby:sound"),
    ("noise levels", "reading:*:sound"),
    ("how loud is the kitchen", "reading:kitchen:sound"),
    ("what is the noise in the lab?", "reading:lab:sound"),
    (
        "sound level in the meeting room",
        "reading:meeting room:sound",
    ),
    ("how warm is it in the lobby", "reading:lobby:temperature"),
    ("how cold is it in here", "reading:here:temperature"),
    ("temperature in here", "reading:here:temperature"),
    ("what's the temp here?", "reading:here:temperature"),
    ("temp anywhere", "reading:*:temperature"),
    (
        "can you give me the humidity of all the rooms?",
        "reading:*:humidity",
    ),
    ("lobby temp now", "reading:lobby:temperature"),
    ("temp lobby", "reading:lobby:temperature"),
    // Extremes.
    ("which room is coldest", "extreme:temperature:low"),
    ("which room is coldest?", "extreme:temperature:low"),
    ("which room is the coldest one", "extreme:temperature:low"),
    ("coldest room", "extreme:temperature:low"),
    ("coldets room?", "extreme:temperature:low"),
    ("warmest room", "extreme:temperature:high"),
    ("warmest rom", "extreme:temperature:high"),
    ("hottest room?", "extreme:temperature:high"),
    ("which room is the most warm?", "extreme:temperature:high"),
    ("in which room is more cold?", "extreme:temperature:low"),
    ("loudest room", "extreme:sound:high"),
    ("which room is quietest", "extreme:sound:low"),
    ("where is it quietest?", "extreme:sound:low"),
    ("most humid room", "extreme:humidity:high"),
    ("driest room", "extreme:humidity:low"),
    ("which room is least noisy", "extreme:sound:low"),
    ("where's the warmest place", "extreme:temperature:high"),
    // Comfort.
    ("is it warm in here", "comfort:here"),
    ("is it warm in here?", "comfort:here"),
    ("is it warm in her", "comfort:here"),
    ("is it cold in the kitchen?", "comfort:kitchen"),
    ("is the kitchen cold?", "comfort:kitchen"),
    ("kitchen too cold?", "comfort:kitchen"),
    ("is the lab too warm", "comfort:lab"),
    ("is lab too warm", "comfort:lab"),
    ("is it too hot in the lobby?", "comfort:lobby"),
    (
        "is it warm enough in the meeting room?",
        "comfort:meeting room",
    ),
    ("the kitchen is warm enough?", "comfort:kitchen"),
    ("is it chilly in here", "comfort:here"),
    ("it's freezing in here", "comfort:here"),
    ("is it loud in the lab", "comfort:lab"),
    ("loud in lobby?", "comfort:lobby"),
    ("is the lab too noisy?", "comfort:lab"),
    ("is it quiet in the kitchen", "comfort:kitchen"),
    ("is it humid in here?", "comfort:here"),
    ("is the lobby too dry", "comfort:lobby"),
    ("is it cold?", "comfort:*"),
    ("is it too hot here or is it just me?", "comfort:here"),
    ("is the temperature too high in the lab?", "comfort:lab"),
    ("comfort check kitchen", "comfortable:kitchen"),
    ("comfort check in the lab", "comfortable:lab"),
    ("quick comfort check in the lobby", "comfortable:lobby"),
    ("confort check: lab", "comfortable:lab"),
    ("comfort check", "comfortable:*"),
    // Alerts, status, rooms, empty.
    ("any alerts?", "alerts"),
    ("alerts", "alerts"),
    ("alerts??", "alerts"),
    ("any alrts", "alerts"),
    ("open alerts", "alerts"),
    ("is there some alarm now?", "alerts"),
    ("any warnings", "alerts"),
    ("status", "status"),
    ("staus", "status"),
    ("mesh status", "status"),
    ("nodes down?", "status"),
    ("any sensors failing?", "status"),
    ("is everything ok with the sensors?", "status"),
    ("how is the mesh", "status"),
    ("health", "status"),
    ("list rooms", "rooms"),
    ("what rooms are there?", "rooms"),
    ("which rooms do you know", "rooms"),
    ("rooms?", "rooms"),
    ("is the office empty?", "empty"),
    ("is it empty", "empty"),
    ("office empty?", "empty"),
    // Help, thanks, greetings.
    ("help", "help"),
    ("hlp", "help"),
    ("help!", "help"),
    ("what can you do?", "help"),
    ("what can i ask?", "help"),
    ("what things I can ask to you?", "help"),
    ("commands", "help"),
    ("thank you", "thanks"),
    ("thanks!", "thanks"),
    ("Thank you so much!", "thanks"),
    ("thx!!", "thanks"),
    ("ty", "thanks"),
    ("cheers", "thanks"),
    ("thanks a lot, very helpful :)", "thanks"),
    ("thank u 🙏", "thanks"),
    ("hi", "greet"),
    ("hey", "greet"),
    ("hello!", "greet"),
    ("good morning", "greet"),
    ("hi officemesh, how are you?", "greet"),
    // Commands that write, and their neighbours.
    ("i am aa:bb:cc:dd:ee:01", "register"),
    ("I'm AA-BB-CC-DD-EE-01", "register"),
    ("this is my mac aa:bb:cc:dd:ee:01", "register"),
    ("forget me", "forget_me"),
    ("forget me please", "forget_me"),
    ("forget aa:bb:cc:dd:ee:01", "forget"),
    ("my devices", "my_devices"),
    ("list my devices", "my_devices"),
    ("what are my devices?", "my_devices"),
    ("show my devices", "my_devices"),
    ("set lab temp 21", "set_target:lab:temperature"),
    (
        "set meeting room temperature to 22",
        "set_target:meeting room:temperature",
    ),
    (
        "set the kitchen humidity to 45%",
        "set_target:kitchen:humidity",
    ),
    (
        "please put the target of meeting room temperature at 22 degrees",
        "set_target:meeting room:temperature",
    ),
    (
        "remove the kitchen target",
        "remove_target:kitchen:temperature",
    ),
    (
        "delete the lab temperature target",
        "remove_target:lab:temperature",
    ),
    ("rm kitchen target", "remove_target:kitchen:temperature"),
    (
        "remove kitchen humidity target",
        "remove_target:kitchen:humidity",
    ),
    ("clear the lobby noise target", "remove_target:lobby:sound"),
    ("delete target for lab", "remove_target:lab:temperature"),
    (
        "unset the meeting room target",
        "remove_target:meeting room:temperature",
    ),
    // Not for the bot: unknown, never a wrong answer.
    ("make me a sandwich", "unknown"),
    ("that's cool", "unknown"),
    ("i am hungry", "unknown"),
    ("i am here", "unknown"),
    ("who is the admin", "unknown"),
    ("how many coffees", "unknown"),
    ("the weather is nice", "unknown"),
    ("setup the printer", "unknown"),
    ("whom", "unknown"),
    ("forget it", "unknown"),
];

#[test]
fn phrasings_are_understood_as_asked() {
    assert!(TABLE.len() >= 200, "{} rows", TABLE.len());
    let wrong: Vec<String> = TABLE
        .iter()
        .filter_map(|(text, want)| {
            let got = label(&parse(text));
            (got != *want).then(|| format!("{text:?}: want {want}, got {got}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        TABLE.len(),
        wrong.join("\n")
    );
}

#[test]
fn time_words_are_read() {
    let when = |text: &str| match parse(text) {
        Command::WhoWasIn { days } => days.first().copied(),
        Command::Arrived { when, .. } | Command::Left { when, .. } => Some(when),
        _ => None,
    };
    assert_eq!(when("who was in yesterday"), Some(When::Yesterday));
    assert_eq!(when("who was in this week"), Some(When::ThisWeek));
    assert_eq!(when("who was in last monday"), Some(When::Weekday(0)));
    assert_eq!(when("who's been in since 9"), Some(When::SinceHour(9)));
    assert_eq!(when("when did ada get in today"), Some(When::Today));
    assert_eq!(when("when did bob leave yesterday"), Some(When::Yesterday));
    assert_eq!(parse("who is in here"), Command::WhoIsIn { room: None });
}
