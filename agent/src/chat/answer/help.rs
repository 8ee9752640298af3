//! "help", and the short help that answers anything the grammar does not know ([`SHORT_HELP`]).
//! Reads nothing: these replies are the same on every node.

use super::Plan;

/// The one-line help that answers anything the grammar does not know.
pub const SHORT_HELP: &str = "Try: \"who's in?\", \"meeting room temp\", \"i am aa:bb:cc:dd:ee:ff\", \"forget me\", \"set meeting room temperature to 22\", \"status\" or \"help\".";

const LONG_HELP: &str = "I answer from the office mesh:\n\
• who's in? — who is at the office (or \"who's in the kitchen\")\n\
• meeting room temp — latest temperature (also humidity, sound; leave out the room for every room)\n\
• i am aa:bb:cc:dd:ee:ff — this device (your phone's Wi-Fi MAC) is yours, so I can count you in\n\
• forget me — remove all your devices (or \"forget aa:bb:cc:dd:ee:ff\" for one)\n\
• set meeting room temperature to 22 — the target; I alert when a room stays outside it\n\
• status — the mesh: which Pis are up, which I cannot reach";

/// "help": what the bot answers, one line per command.
pub(super) fn help() -> Plan {
    Plan::say(LONG_HELP)
}

/// Anything the grammar does not know: the text (cut to 80 characters) and the short help.
pub(super) fn unknown(text: &str) -> Plan {
    Plan::say(format!(
        "Sorry, I didn't understand \"{}\". {SHORT_HELP}",
        text.chars().take(80).collect::<String>()
    ))
}
