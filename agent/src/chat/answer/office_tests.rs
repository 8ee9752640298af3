//! Three colleagues' phrasing lists (written blind to the code: `/work/phrasings/*.txt` when
//! this was written, 35 lines each) and the rules their misses showed, on other words, with the
//! intent and entities each is understood as in the realistic office of `fixture::Demo` (its
//! people and rooms known). A row passes when the label matches and the reply is no fallback.

use super::fixture::Demo;
use crate::chat::understand::table::label;

const OFFICE: &[(&str, &str)] = &[
    // Priya: terse, chat-style.
    ("morning! who's in today?", "who"),
    ("@officemesh is ada here", "is_in:ada"),
    ("hey is bob in the office rn", "is_in:bob"),
    ("how warm is the studio", "reading:studio:temperature"),
    ("studio temp pls", "reading:studio:temperature"),
    ("what's the noise like in open space? trying to focus lol", "reading:open space:sound"),
    ("@officemesh how many ppl are in right now", "how_many"),
    ("is it just me or is the meeting room freezing", "comfort:meeting room"),
    ("which room is the quietest atm", "extreme:sound:low"),
    ("whats the humidity in the kitchen", "reading:kitchen:humidity"),
    ("thanks!", "thanks"),
    ("did grace come in yesterday?", "was_in:grace"),
    ("when did linus get in this morning", "arrived:linus"),
    ("has bob left already?", "left:bob"),
    ("i am a4:83:e7:2f:19:c0", "register"),
    ("@officemesh what devices do i have registered", "my_devices"),
    ("oops wrong mac, i am A4:83:E7:2F:19:C1", "register"),
    ("which room's the warmest rn", "extreme:temperature:high"),
    ("coldest room?", "extreme:temperature:low"),
    ("is the lobby too hot compared to what it should be", "comfort:lobby"),
    ("set the studio target to 21 degrees pls", "set_target:studio:temperature"),
    ("can u set meeting room comfort to 22", "set_target:meeting room:temperature"),
    ("remove the target for the kitchen", "remove_target:kitchen:temperature"),
    ("any alerts?", "alerts"),
    ("mesh status", "status"),
    ("@officemesh how loud is the lobby right now", "reading:lobby:sound"),
    ("temp in open sapce?", "reading:open space:temperature"),
    ("is anyone in the meeting room", "who"),
    ("hi officemesh :) is ada around this afternoon", "is_in:ada"),
    ("what time did grace leave on friday", "left:grace"),
    ("how many people were in on monday", "who_was"),
    ("is the studio within its target or nah", "comfortable:studio"),
    ("thx, that helped", "thanks"),
    ("forget me", "forget_me"),
    // What is kept is a question, never a change: no MAC, no "forget" (those act).
    ("privacy?", "privacy"),
    ("how long do you keep my data", "privacy"),
    ("what info do you have on us", "privacy"),
    ("do you store personal stuff about people", "privacy"),
    ("forget me, how long do you keep my data", "forget_me"),
    ("hello! who's here so far", "who"),
    // Tomasz: on a phone, little punctuation, typos.
    ("@officemesh hi", "greet"),
    ("temp kitchen?", "reading:kitchen:temperature"),
    ("linus in office?", "is_in:linus"),
    ("who is here now", "who"),
    ("how many ppl in office today", "how_many"),
    ("when ada came today", "arrived:ada"),
    ("studio is too hot again, what temp there", "comfort:studio"),
    ("@officemesh humidty meeting room", "reading:meeting room:humidity"),
    ("which room most quiet now, need call", "extreme:sound:low"),
    ("noise open space?", "reading:open space:sound"),
    ("grace left alredy?", "left:grace"),
    ("set target kitchen 22 deg", "set_target:kitchen:temperature"),
    ("remove comfort target for studio pls", "remove_target:studio:temperature"),
    ("any alerts", "alerts"),
    ("node status", "status"),
    ("is mesh ok? lobby sensor look dead", "status"),
    ("register my phone mac 3c:22:fb:9a:41:0e", "register"),
    ("my devices", "my_devices"),
    ("@officemesh forget me pls, new phone", "forget_me"),
    ("ok, forget me and delete my devices and my attendance records", "forget_me"),
    ("could you unregister me? remove my phones", "forget_me"),
    ("warmest room?", "extreme:temperature:high"),
    ("coldest room rn", "extreme:temperature:low"),
    ("was bob in yesterday", "was_in:bob"),
    ("how many people was here yesterday afternoon", "who_was"),
    ("temp in meeting room since morning", "trend:meeting room:temperature"),
    ("kitchen vs studio temp", "compare:kitchen,studio:temperature"),
    ("who come first today", "who_was"),
    ("is open space louder then lobby", "compare:open space,lobby:sound"),
    ("thx", "thanks"),
    ("@officemesh when linus left yesterday", "left:linus"),
    ("ada and grace both in?", "is_in:ada and grace"),
    ("avg humidity this week kitchen", "trend:kitchen:humidity"),
    ("what targets are set now", "targets:*"),
    ("who was in ofice on monday", "who_was"),
    ("bob here? need him for deploy", "is_in:bob"),
    ("thanks bot good job", "thanks"),
    // Margaret: long and polite, context after the question.
    ("Good morning! Could you tell me who is in the office today, please?", "who"),
    ("Hello there, is Ada in yet this morning? I have a parcel waiting for her at reception.", "is_in:ada"),
    ("Could you let me know what time Bob arrived today, please?", "arrived:bob"),
    ("I was wondering whether it's too stuffy in the meeting room at the moment, as we have clients coming in at eleven.", "comfort:meeting room"),
    ("How warm is it in the kitchen right now, please?", "reading:kitchen:temperature"),
    ("Would you be so kind as to tell me how many people are in the office at the moment? I'm trying to work out how much cake to order for this afternoon.", "how_many"),
    ("Is Grace in today, or is she working from home again?", "is_in:grace"),
    ("When was Linus last in the office? I haven't seen him in a while and I need him to sign his expenses form.", "last_in:linus"),
    ("Could you please tell me which room is the warmest at the moment?", "extreme:temperature:high"),
    ("Which room is the coldest right now? Several people have been complaining about chilly feet.", "extreme:temperature:low"),
    ("Is it very noisy in the open space? I have an important phone call to make and would like to find a quiet spot.", "comfort:open space"),
    ("Thank you so much, that's very helpful!", "thanks"),
    ("Could you please set the temperature target for the meeting room to between 20 and 23 degrees?", "set_range:meeting room:temperature"),
    ("I'd like to set a humidity target for the studio of 40 to 60 percent, please.", "set_range:studio:humidity"),
    ("Are all the rooms within their comfort targets today?", "comfortable:*"),
    ("Please remove the noise target for the kitchen, it keeps going off every lunchtime and with the coffee machine it's really quite unavoidable.", "remove_target:kitchen:sound"),
    ("Who came in on Monday? I need to double-check the attendance for the fire drill register.", "who_was"),
    ("Could you tell me who has been in the office this week, please?", "who_was"),
    ("Are there any alerts at the moment that I should be aware of?", "alerts"),
    ("Hello! Could you let me know whether the Raspberry Pis are all working properly? One of the little lights in the lobby looked like it was off this morning.", "status"),
    ("What is the humidity in the lobby at the moment, please? The plants are looking a bit sad and I wondered if the air is too dry.", "reading:lobby:humidity"),
    ("I've just got a new phone, so could you please register it for me? The MAC address is 3C:22:FB:9A:41:7E.", "register"),
    ("Could you show me which devices you have registered under my name, please?", "my_devices"),
    ("Has Bob left for the day already? I was hoping to catch him before he went home.", "left:bob"),
    ("Is the meeting room comfortable at the moment, or should I open a window before the board meeting starts?", "comfortable:meeting room"),
    ("Good afternoon! How noisy is the studio right now? The team are recording a podcast and asked me to keep an eye on it.", "reading:studio:sound"),
    ("Which is the noisiest room in the office at the moment, please?", "extreme:sound:high"),
    ("Who was in last Thursday? I'm trying to work out who might have left their umbrella in the kitchen.", "who_was"),
    ("Could you please tell me the temperature in every room? The heating engineer is coming in this afternoon and will want to know.", "reading:*:temperature"),
    ("Is anybody in the office yet? I'm running a little late because of the trains and wanted to make sure someone has let the cleaners in.", "who"),
    ("Please could you forget my old phone, as I've handed it in to be recycled? Its MAC address was a4:5e:60:d2:13:09.", "forget"),
    ("Could you kindly set the maximum temperature for the open space to 24 degrees? It got rather warm in there last week in the afternoons.", "set_range:open space:temperature"),
    ("What comfort targets are currently set for the kitchen, please?", "targets:kitchen"),
    ("Did Ada come in at all this week? I want to make sure she gets to sign Grace's birthday card before Friday.", "was_in:ada"),
    ("Thank you ever so much for all your help today, have a lovely evening!", "thanks"),
    // The rule each miss above showed, on other words and rooms.
    ("humidty in the kitchen", "reading:kitchen:humidity"),
    ("anyone in the ofice", "who"),
    ("temperatur studio", "reading:studio:temperature"),
    ("temp in open sapce", "reading:open space:temperature"),
    ("was linus in on tuesday", "was_in:linus"),
    ("did bob come in last friday", "was_in:bob"),
    ("is the kitchen louder than the studio", "compare:kitchen,studio:sound"),
    ("studio vs lobby humidity", "compare:studio,lobby:humidity"),
    ("targets for the studio", "targets:studio"),
    ("set the lobby humidity between 35 and 55", "set_range:lobby:humidity"),
    ("set minimum temperature in the kitchen to 19", "set_range:kitchen:temperature"),
    ("is the lobby comfortable", "comfortable:lobby"),
    ("forget my old laptop aa:bb:cc:dd:ee:02", "forget"),
    ("torvalds here?", "is_in:torvalds"),
    ("grace and linus in?", "is_in:grace and linus"),
    ("how many came in yesterday", "who_was"),
    ("which room is least noisy", "extreme:sound:low"),
    ("quietest room", "extreme:sound:low"),
    ("temperature everywhere", "reading:*:temperature"),
    ("noise in all rooms", "reading:*:sound"),
    ("is it warm in here", "comfort:here"),
    ("who's in the studio", "who"),
    ("when did torvalds arrive", "arrived:torvalds"),
    ("was grace in last week", "was_in:grace"),
    ("remove the studio target", "remove_target:studio:temperature"),
    ("delete the humidity target for the lobby", "remove_target:lobby:humidity"),
    ("list targets", "targets:*"),
    ("Hi! Is Linus in? I need him.", "is_in:linus"),
    ("is the open space within target", "comfortable:open space"),
    ("is it colder in the kitchen or the lobby", "compare:kitchen,lobby:temperature"),
    ("what's the humidity like across the office", "reading:*:humidity"),
    ("make the studio 21 degrees", "set_target:studio:temperature"),
    ("raise the studio target to 22", "set_target:studio:temperature"),
    ("has anyone arrived yet?", "who_was"),
    ("who got in first", "who_was"),
    ("was anyone in on saturday", "who_was"),
    ("which rooms have targets", "targets:*"),
    ("is pi-studio up", "status"),
    // Held-out lists 1 (dev, hannah, luis): the lines missed, then each rule on other words.
    ("hows busy is it there", "how_many"),
    ("is the office packed today or can i grab a desk", "how_many"),
    ("@officemesh is the kitchen busy? want to grab coffee without the queue", "empty"),
    ("kitchen packed rn?", "empty"),
    ("how crowded is it today", "how_many"),
    ("is the lobby rammed", "empty"),
    ("is the studio full rn", "empty"),
    ("morning officemesh", "greet"),
    ("morning officemesh 👋", "greet"),
    ("afternoon officemesh!", "greet"),
    ("evening all 🙂", "greet"),
    ("hiya bot", "greet"),
    ("set a target of 21 degrees for the meeting room", "set_target:meeting room:temperature"),
    ("set target 20.5 for the kitchen", "set_target:kitchen:temperature"),
    ("set a target of 45% for the lobby", "set_target:lobby:humidity"),
    ("set the target to 50 dB in the open space please", "set_target:open space:sound"),
    ("set target 19 in the studio", "set_target:studio:temperature"),
    ("set studio target 60", "bad_set"),
    ("how do i add my phone", "bad_mac"),
    ("how can i register my laptop?", "bad_mac"),
    ("forget my old phone pls", "my_devices"),
    ("remove my previous laptop", "my_devices"),
    ("@officemesh did i register my phone right? what devices do u have for me", "my_devices"),
    ("what phones do i have", "my_devices"),
    ("@officemesh got a new phone, new mac is 3c:22:fb:9a:10:ef", "register"),
    ("new laptop, mac 3c:22:fb:9a:10:aa", "register"),
    ("lol is the open space a sauna again", "comfort:open space"),
    ("the kitchen is roasting", "comfort:kitchen"),
    ("studio feels like a fridge", "comfort:studio"),
    ("is the lobby arctic today?", "comfort:lobby"),
    ("meeting rm temp", "reading:meeting room:temperature"),
    ("humidity in meeting rm", "reading:meeting room:humidity"),
    ("meeting noise?", "reading:meeting room:sound"),
    ("temp + humidity for all rooms pls", "readings:*:temperature,humidity"),
    ("noise and temperature in the studio", "readings:studio:sound,temperature"),
    ("how are we doing vs the comfort targets?", "comfortable:*"),
    ("are we hitting our targets", "comfortable:*"),
    ("how is the kitchen doing against its targets", "comfortable:kitchen"),
    ("my phone is broken", "unknown"),
    ("set up a meeting at 3", "bad_set"),
    ("set a reminder for 5pm", "bad_set"),
    // Blind test 3: several people at once (one line each), two days compared, a comfort
    // check of one room; then each rule on other words, typos and punctuation.
    ("were ada and bob in yesterday?", "was_in:ada and bob"),
    ("did ada or linus come in on monday", "was_in:ada and linus"),
    ("was grace and bob here last week", "was_in:grace and bob"),
    ("Ada & Bob in yesterday?", "was_in:ada and bob"),
    ("were ada, bob and grace in on monday", "was_in:ada and bob and grace"),
    ("were ada lovelace and bob in yesterday", "was_in:ada lovelace and bob"),
    ("did linus n grace come in this week?", "was_in:linus and grace"),
    ("is ada or bob in?", "is_in:ada and bob"),
    ("are ada and linus in", "is_in:ada and linus"),
    ("ada & linus here?", "is_in:ada and linus"),
    ("is grace or bob around rn", "is_in:grace and bob"),
    ("was ada in on monday or tuesday", "was_in:ada"),
    ("did ada and bob come in on mon v tue", "was_in:ada and bob"),
    ("bob & grace?", "is_in:bob and grace"),
    ("were ada &amp; bob in yday", "was_in:ada and bob"),
    ("when did ada and bob get in today", "arrived:ada and bob"),
    ("has grace or bob left?", "left:grace and bob"),
    ("when were ada and linus last in", "last_in:ada and linus"),
    ("monday vs wednesday", "who_was:mon,wed"),
    ("who was in on monday vs wednesday", "who_was:mon,wed"),
    ("compare monday and tuesday attendance", "who_was:mon,tue"),
    ("monday v wednesday", "who_was:mon,wed"),
    ("Monday vs. Tuesday?", "who_was:mon,tue"),
    ("attendance monday versus friday", "who_was:mon,fri"),
    ("who was in yesterday vs today", "who_was:yesterday,today"),
    ("how many were in on monday vs tuesday", "who_was:mon,tue"),
    ("who came in tues or wednesday", "who_was:tue,wed"),
    ("attendance mon/tue", "who_was:mon,tue"),
    ("did anyone come in on saturday or sunday", "who_was:sat,sun"),
    ("comfort check studio", "comfortable:studio"),
    ("comfort check meeting room", "comfortable:meeting room"),
    ("quick comfort check in the kitchen", "comfortable:kitchen"),
    ("comfort check: lobby", "comfortable:lobby"),
    ("comfort chek open space", "comfortable:open space"),
    ("Comfort check - studio?", "comfortable:studio"),
    ("studio comfort?", "comfortable:studio"),
    ("how's the comfort in the lobby", "comfortable:lobby"),
    ("comfort check", "comfortable:*"),
    ("studio and kitchen comfort check", "comfortable:studio,kitchen"),
    ("comfort check for the lobby & kitchen", "comfortable:lobby,kitchen"),
    ("are the lobby and the kitchen comfortable?", "comfortable:lobby,kitchen"),
    // Not for the bot, in the same office: a fallback, never a wrong answer.
    ("asdf qwer zxcv", "unknown"),
    ("the purple elephant sings", "unknown"),
    ("banana", "unknown"),
    ("lorem ipsum dolor", "unknown"),
    ("i am in the kitchen", "unknown"),
    ("lunch anyone?", "unknown"),
    ("how many coffees", "unknown"),
    ("who is the admin", "unknown"),
];

#[test]
fn colleagues_phrasings_are_understood_in_the_office() {
    let demo = Demo::new();
    let wrong: Vec<String> = OFFICE
        .iter()
        .filter_map(|(text, want)| {
            let got = label(&demo.understand(text));
            let reply = demo.answer(text);
            let fallback = reply.starts_with("Sorry, I didn't understand") && *want != "unknown";
            (got != *want || fallback).then(|| format!("{text:?}: want {want}, got {got}: {reply}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        OFFICE.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_answers_are_about_what_was_asked() {
    let demo = Demo::new();
    let cases = [
        ("did grace come in yesterday?", "Yes, Grace Hopper was in yesterday: 09:30–16:45."),
        ("how many people were in on monday", "On Monday (2025-11-24), 2 people:"),
        ("kitchen vs studio temp", "studio is warmer than kitchen: 24.5 °C against 22.5 °C."),
        ("what targets are set now", "• studio temperature: 21 ± 1 °C"),
        ("is the studio within its target or nah", "No: studio is at 24.5 °C, above its target"),
        ("ada and grace both in?", "No, Grace Hopper isn't in"),
        ("who come first today", "Today, 4 people: Bob Marley 08:05–12:41, Grace Hopper"),
        ("avg humidity this week kitchen", "no averages or history"),
        (
            "Could you please set the temperature target for the meeting room to between 20 and 23 degrees?",
            "meeting room is now 21.5 °C (± 1.5, so 20–23 °C)",
        ),
        (
            "Could you kindly set the maximum temperature for the open space to 24 degrees?",
            "open space is now 23 °C (± 1, so 22–24 °C)",
        ),
        ("is anyone in the meeting room", "I can only tell who is at the office"),
        ("kitchen packed rn?", "As a hint of how busy it is: kitchen sound: 58 dB"),
        ("set a target of 21 degrees for the meeting room", "meeting room is now 21 °C"),
        ("temp + humidity for all rooms pls", "studio humidity: 42 %"),
        ("forget my old phone pls", "You have no devices registered"),
        ("set up a meeting at 3", "can't book meetings"),
        ("my phone is broken", "didn't understand"),
        ("how long do you keep my data?", "Attendance history is on here"),
        ("were ada and bob in yesterday?", "Yes, Ada Lovelace was in yesterday: 08:55–17:10.\nYes, Bob Marley was in yesterday: 10:00–18:20."),
        ("did ada or linus come in on monday", "No, I didn't see Ada Lovelace in on Monday (2025-11-24).\nYes, Linus Torvalds was in on Monday (2025-11-24): 09:00–17:00."),
        ("was ada in on monday or tuesday", "No, I didn't see Ada Lovelace in on Monday (2025-11-24).\nYes, Ada Lovelace was in on Tuesday (2025-11-25): 08:55–17:10."),
        ("is ada or bob in?", "Yes, Ada Lovelace is in the office, seen by pi-lobby (since 09:12).\nYes, Bob Marley is in"),
        ("monday vs wednesday", "On Monday (2025-11-24), 2 people: Linus Torvalds 09:00–17:00, Grace Hopper 09:15–15:30.\nToday, 4 people:"),
        ("compare monday and tuesday attendance", "On Monday (2025-11-24), 2 people:"),
        ("compare monday and tuesday attendance", "\nOn Tuesday (2025-11-25), 3 people: Ada Lovelace 08:55–17:10"),
        ("comfort check studio", "No: studio is at 24.5 °C, above its target"),
        ("comfort check meeting room", "No: meeting room is at 19.5 °C, below a comfortable 20–24 °C."),
    ];
    for (question, part) in cases {
        let reply = demo.answer(question);
        assert!(
            reply.contains(part),
            "{question:?}: {part:?} missing from: {reply}"
        );
    }
}

#[test]
fn a_comfort_check_of_several_rooms_judges_each_and_no_other() {
    let demo = Demo::new();
    let reply = demo.answer("studio and meeting room comfort check");
    assert!(
        reply.starts_with("Not every room:")
            && reply.contains("studio is at 24.5 °C, above its target")
            && reply.contains("meeting room is at 19.5 °C, below a comfortable 20–24 °C.")
            && !reply.contains("lobby")
            && !reply.contains("kitchen"),
        "{reply}"
    );
}

#[test]
fn a_comfort_check_of_one_room_names_that_room_only() {
    let demo = Demo::new();
    for (question, room) in [
        ("comfort check meeting room", "meeting room"),
        ("quick comfort check in the kitchen", "kitchen"),
    ] {
        let reply = demo.answer(question);
        let others: Vec<&str> = ["lobby", "kitchen", "meeting room", "studio", "open space"]
            .into_iter()
            .filter(|other| *other != room && reply.contains(other))
            .collect();
        assert!(
            reply.contains(room) && others.is_empty() && !reply.starts_with("Sorry"),
            "{question:?}: {reply}"
        );
    }
}
