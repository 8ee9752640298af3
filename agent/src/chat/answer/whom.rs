//! Which registered person a name in a question means: the full name, or any part of it
//! (first name, surname), case-insensitive, typos allowed; two matches are asked back. Pure.

use crate::chat::grammar::edit_distance;
use crate::chat::lexicon::allowed_edits;

/// The people `mention` may mean.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Whom {
    One(String),
    Several(Vec<String>),
    Nobody,
}

/// Which of `names` the words of `mention` name ("ada", "Ada Lovelace", "lovelace", "ada l").
pub(super) fn whom(names: &[String], mention: &str) -> Whom {
    let mention = mention.trim().to_lowercase();
    if let Some(name) = names.iter().find(|n| n.to_lowercase() == mention) {
        return Whom::One(name.clone());
    }
    let words: Vec<&str> = mention.split_whitespace().collect();
    if words.is_empty() {
        return Whom::Nobody;
    }
    for exact in [true, false] {
        let found: Vec<String> = names
            .iter()
            .filter(|name| names_all(name, &words, exact))
            .cloned()
            .collect();
        match found.len() {
            0 => continue,
            1 => return Whom::One(found[0].clone()),
            _ => return Whom::Several(found),
        }
    }
    Whom::Nobody
}

/// Every word of the mention is a part of `name` (or its initial, for "ada l").
fn names_all(name: &str, words: &[&str], exact: bool) -> bool {
    let lower = name.to_lowercase();
    let parts: Vec<&str> = lower.split_whitespace().collect();
    words.iter().all(|word| {
        parts.iter().any(|part| {
            *part == *word
                || (word.len() == 1 && part.starts_with(word) && words.len() > 1)
                || (!exact
                    && allowed_edits(part.chars().count()) > 0
                    && edit_distance(word, part) <= allowed_edits(part.chars().count()))
        })
    })
}

/// "Do you mean Bob Marley or Bob Smith?"
pub(super) fn ask_back(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("Do you mean {one}?"),
        [init @ .., last] => format!("Do you mean {} or {last}?", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_part_of_a_name() {
        let names: Vec<String> = ["Ada Lovelace", "Bob Smith", "Bob Marley", "Grace Hopper"]
            .map(String::from)
            .to_vec();
        let one = |n: &str| Whom::One(n.to_string());
        assert_eq!(whom(&names, "ada"), one("Ada Lovelace"));
        assert_eq!(whom(&names, "ADA LOVELACE"), one("Ada Lovelace"));
        assert_eq!(whom(&names, "lovelace"), one("Ada Lovelace"));
        assert_eq!(whom(&names, "grcae"), one("Grace Hopper"));
        assert_eq!(whom(&names, "adda"), Whom::Nobody, "short names: no typos");
        assert_eq!(
            whom(&names, "bob"),
            Whom::Several(vec!["Bob Smith".into(), "Bob Marley".into()])
        );
        assert_eq!(whom(&names, "bob smith"), one("Bob Smith"));
        assert_eq!(whom(&names, "zed"), Whom::Nobody);
        assert_eq!(
            ask_back(&["Bob Marley".into(), "Bob Smith".into()]),
            "Do you mean Bob Marley or Bob Smith?"
        );
    }
}
