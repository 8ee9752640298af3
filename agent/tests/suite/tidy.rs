//! `tidy`: the tree's own rules, checked by `cargo test` (rust-analyzer's `xtask/src/tidy.rs`
//! idea). For every workspace crate's `src/` (not tests, benches, examples): each file starts
//! with a `//!` header; no module cycle between a crate's top-level modules; no file over
//! 600 lines of code; no `Result<_, String>`; at most 5 functions over 60 lines; and no
//! dependency in a crate's Cargo.toml that its sources never name (as `cargo machete`).
//! Code means the text without its `#[cfg(test)]` items, as `../shared/tools/modcycles.py`
//! counts it. Every failure names the file, the rule and the fix.
//! Must not touch: anything; it only reads the tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 60;
const MAX_LONG_FNS: usize = 5;

/// Table-like functions (one row per line: a long list, not long logic). `file::function`.
const TABLES: &[&str] = &[
    // one `Range` row per numeric config key
    "agent/src/config/ranges.rs::all",
];

/// Long functions in other helpers' areas this round. The coordinator removes each entry once
/// the owner's split lands (an entry that no longer matches fails this test).
const TEMPORARY_LONG_FNS: &[&str] = &[];

/// Files over 600 lines in other helpers' areas this round (same rule as above).
const TEMPORARY_LARGE_FILES: &[&str] = &[];

/// `Result<_, String>` in other helpers' areas this round (same rule as above).
const TEMPORARY_STRING_ERRORS: &[&str] = &[];

/// Dependencies no source names that are still needed: `crate/Cargo.toml::name` and why.
const USED_WITHOUT_NAME: &[&str] = &[];

#[test]
fn tidy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut problems = Vec::new();
    let mut long_fns = Vec::new();
    for krate in workspace_crates(&root) {
        let files = rust_files(&krate.join("src"));
        for file in &files {
            let text = std::fs::read_to_string(file).expect("read a source file");
            let rel = relative(&root, file);
            let code = strip_tests(&text);
            check_header(&rel, &text, &mut problems);
            if !is_test_file(file.strip_prefix(krate.join("src")).unwrap_or(file)) {
                check_size(&rel, &code, &mut problems);
                check_string_errors(&rel, &code, &mut problems);
                long_fns.extend(long_functions(&rel, &code));
            }
        }
        check_cycles(&root, &krate, &files, &mut problems);
        check_dependencies(&root, &krate, &mut problems);
    }
    check_long_functions(&long_fns, &mut problems);
    check_stale(&problems_seen(&root), &mut problems);
    assert!(
        problems.is_empty(),
        "tidy found {} problem(s):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

// ---- the tree ---------------------------------------------------------------------------

/// The workspace members' directories (root Cargo.toml `[workspace] members`).
fn workspace_crates(root: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    let manifest: toml::Table = text.parse().expect("the workspace Cargo.toml parses");
    manifest["workspace"]["members"]
        .as_array()
        .expect("workspace members")
        .iter()
        .filter_map(|m| m.as_str())
        .map(|m| root.join(m))
        .collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

fn relative(root: &Path, file: &Path) -> String {
    let root = root.canonicalize().expect("workspace root");
    let file = file.canonicalize().expect("source file");
    file.strip_prefix(&root)
        .unwrap_or(&file)
        .to_string_lossy()
        .replace('\\', "/")
}

/// A file that only holds tests (`tests.rs`, `*_tests.rs`, or under a `tests/` folder).
fn is_test_file(file: &Path) -> bool {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name == "tests.rs"
        || name.ends_with("_tests.rs")
        || file.components().any(|c| c.as_os_str() == "tests")
}

/// The text without each `#[cfg(test)]` item: the attribute and the item after it, up to its
/// closing brace (brace-matched) or its `;` (a `mod tests;` line). As modcycles.py does.
fn strip_tests(text: &str) -> String {
    const ATTR: &str = "#[cfg(test)]";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(found) = text[i..].find(ATTR) {
        let j = i + found;
        out.push_str(&text[i..j]);
        let k = j + ATTR.len();
        let brace = text[k..].find('{').map(|b| k + b);
        let semi = text[k..].find(';').map(|s| k + s);
        match (brace, semi) {
            (_, Some(s)) if brace.is_none_or(|b| s < b) => i = s + 1,
            (Some(b), _) => {
                let mut depth = 0usize;
                let mut end = b;
                while end < bytes.len() {
                    match bytes[end] {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    end += 1;
                }
                i = (end + 1).min(text.len());
            }
            _ => return out,
        }
    }
    out.push_str(&text[i..]);
    out
}

/// `code` with comments, string and char literals blanked to spaces (newlines kept), so
/// braces and names inside them count for nothing.
fn blank_literals(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let end = if c == '/' && next == Some('/') {
            (i..chars.len())
                .find(|&k| chars[k] == '\n')
                .unwrap_or(chars.len())
        } else if c == '/' && next == Some('*') {
            skip_block_comment(&chars, i)
        } else if c == '"' || (c == 'r' && matches!(next, Some('"' | '#')) && is_raw(&chars, i)) {
            skip_string(&chars, i)
        } else if c == '\'' {
            skip_char(&chars, i)
        } else {
            out.push(c);
            i += 1;
            continue;
        };
        out.extend(chars[i..end].iter().map(|&c| blank(c)));
        i = end;
    }
    out
}

fn skip_block_comment(chars: &[char], start: usize) -> usize {
    let (mut depth, mut k) = (0usize, start);
    while k + 1 < chars.len() {
        if chars[k] == '/' && chars[k + 1] == '*' {
            depth += 1;
            k += 2;
        } else if chars[k] == '*' && chars[k + 1] == '/' {
            depth -= 1;
            k += 2;
            if depth == 0 {
                return k;
            }
        } else {
            k += 1;
        }
    }
    chars.len()
}

/// `r"…"` / `r#"…"#` starts here (not an identifier ending in r).
fn is_raw(chars: &[char], i: usize) -> bool {
    let before = i.checked_sub(1).map(|k| chars[k]);
    let ident_before = before.is_some_and(|b| b.is_alphanumeric() || b == '_');
    let mut k = i + 1;
    while chars.get(k) == Some(&'#') {
        k += 1;
    }
    (!ident_before || before == Some('b')) && chars.get(k) == Some(&'"')
}

fn skip_string(chars: &[char], start: usize) -> usize {
    if chars[start] == 'r' {
        let mut k = start + 1;
        let mut hashes = 0;
        while chars[k] == '#' {
            hashes += 1;
            k += 1;
        }
        k += 1; // the opening quote
        while k < chars.len() {
            if chars[k] == '"' && (1..=hashes).all(|h| chars.get(k + h) == Some(&'#')) {
                return k + 1 + hashes;
            }
            k += 1;
        }
        return chars.len();
    }
    let mut k = start + 1;
    while k < chars.len() {
        match chars[k] {
            '\\' => k += 2,
            '"' => return k + 1,
            _ => k += 1,
        }
    }
    chars.len()
}

/// A char literal (`'x'`, `'\n'`, `'\u{1F600}'`) or a lifetime / label (`'a`, left as is).
fn skip_char(chars: &[char], start: usize) -> usize {
    if chars.get(start + 1) == Some(&'\\') {
        let close = (start + 2..chars.len()).find(|&k| chars[k] == '\'');
        return close.map_or(start + 1, |k| k + 1);
    }
    if chars.get(start + 2) == Some(&'\'') {
        return start + 3;
    }
    start + 1
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

// ---- the rules --------------------------------------------------------------------------

fn check_header(rel: &str, text: &str, problems: &mut Vec<String>) {
    if !text.starts_with("//!") {
        problems.push(format!(
            "{rel}: missing `//!` header (rule: every source file starts with a `//!` doc).\n  \
             fix: begin the file with `//! <what it holds>` and `//! Must not touch: <…>`."
        ));
    }
}

fn check_size(rel: &str, code: &str, problems: &mut Vec<String>) {
    let lines = code.matches('\n').count();
    if lines > MAX_FILE_LINES && !TEMPORARY_LARGE_FILES.contains(&rel) {
        problems.push(format!(
            "{rel}: {lines} lines of code (rule: files ≤ {MAX_FILE_LINES} lines, `#[cfg(test)]` \
             items not counted).\n  fix: split it into modules with one job each, or move \
             its tests to a `tests.rs` beside it."
        ));
    }
}

fn check_string_errors(rel: &str, code: &str, problems: &mut Vec<String>) {
    if TEMPORARY_STRING_ERRORS.contains(&rel) {
        return;
    }
    for (line, ok) in string_errors(code) {
        problems.push(format!(
            "{rel}:{line}: `Result<{ok}, String>` (rule: errors are typed, no \
             `Result<_, String>` outside tests).\n  fix: a `thiserror` enum naming each \
             failure (its message says what to do)."
        ));
    }
}

/// `(line, ok type)` of each `Result<_, String>` in `code`.
fn string_errors(code: &str) -> Vec<(usize, String)> {
    let clean = blank_literals(code);
    let mut out = Vec::new();
    for (at, _) in clean.match_indices("Result<") {
        let before = clean[..at].chars().next_back();
        if before.is_some_and(|b| b.is_alphanumeric() || b == '_') {
            continue; // `FooResult<…>`
        }
        let args = generic_args(&clean[at + "Result<".len()..]);
        if args.len() == 2 && args[1] == "String" {
            out.push((line_of(&clean, at), args[0].clone()));
        }
    }
    out
}

/// The top-level comma-separated arguments of `…>` (the text after a `<`), trimmed.
fn generic_args(after: &str) -> Vec<String> {
    let (mut depth, mut args, mut current) = (0usize, Vec::new(), String::new());
    let mut prev = ' ';
    for c in after.chars() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' if prev == '-' => {}
            '>' | ')' | ']' if depth > 0 => depth -= 1,
            '>' => break,
            ',' if depth == 0 => {
                args.push(current.trim().to_string());
                current.clear();
                prev = c;
                continue;
            }
            ';' | '{' => return Vec::new(),
            _ => {}
        }
        current.push(c);
        prev = c;
    }
    args.push(current.trim().to_string());
    args
}

/// `file::name` and length of every function over `MAX_FN_LINES` lines (brace-matched).
fn long_functions(rel: &str, code: &str) -> Vec<(String, usize)> {
    let clean = blank_literals(code);
    let bytes = clean.as_bytes();
    let mut out = Vec::new();
    for (at, _) in clean.match_indices("fn ") {
        let before = clean[..at].chars().next_back();
        if before.is_some_and(|b| b.is_alphanumeric() || b == '_') {
            continue;
        }
        let name: String = clean[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue; // `fn(u8) -> u8`, a function pointer type
        }
        let rest = &clean[at..];
        let (Some(open), semi) = (rest.find('{'), rest.find(';')) else {
            continue;
        };
        if semi.is_some_and(|s| s < open) {
            continue; // a declaration without a body
        }
        let mut depth = 0usize;
        let mut end = at + open;
        while end < bytes.len() {
            match bytes[end] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            end += 1;
        }
        let lines = line_of(&clean, end.min(bytes.len())) - line_of(&clean, at) + 1;
        if lines > MAX_FN_LINES {
            out.push((format!("{rel}::{name}"), lines));
        }
    }
    out
}

fn check_long_functions(long_fns: &[(String, usize)], problems: &mut Vec<String>) {
    let counted: Vec<&(String, usize)> = long_fns
        .iter()
        .filter(|(name, _)| !TABLES.contains(&name.as_str()))
        .filter(|(name, _)| !TEMPORARY_LONG_FNS.contains(&name.as_str()))
        .collect();
    for (name, lines) in long_fns {
        let note = if TABLES.contains(&name.as_str()) {
            " (table)"
        } else if TEMPORARY_LONG_FNS.contains(&name.as_str()) {
            " (TEMPORARY allow-list)"
        } else {
            ""
        };
        eprintln!("tidy: function over {MAX_FN_LINES} lines: {name} ({lines}){note}");
    }
    if counted.len() > MAX_LONG_FNS {
        let list: Vec<String> = counted
            .iter()
            .map(|(name, lines)| format!("    {name} ({lines} lines)"))
            .collect();
        problems.push(format!(
            "{} functions over {MAX_FN_LINES} lines (rule: at most {MAX_LONG_FNS}, tables \
             aside):\n{}\n  fix: split each into named steps that fit a screen (a table-like \
             function goes into TABLES in agent/tests/suite/tidy.rs, with a comment).",
            counted.len(),
            list.join("\n")
        ));
    }
}

/// Top-level module graph of one crate from `crate::` paths (modcycles.py's reading); every
/// strongly connected set of two or more modules is a problem, with the files behind each arrow.
fn check_cycles(root: &Path, krate: &Path, files: &[PathBuf], problems: &mut Vec<String>) {
    let src = krate.join("src");
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let top = rel
            .components()
            .next()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .unwrap_or_default();
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if top == "main" || top == "lib" || name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read a source file");
        let code = strip_tests(&text);
        for (target, at) in crate_paths(&code) {
            if target != top {
                let place = format!("{}:{}", relative(root, file), line_of(&code, at));
                edges
                    .entry(top.clone())
                    .or_default()
                    .entry(target)
                    .or_insert(place);
            }
        }
    }
    for cycle in strongly_connected(&edges) {
        let arrows: Vec<String> = cycle
            .iter()
            .flat_map(|from| {
                edges[from]
                    .iter()
                    .filter(|(to, _)| cycle.contains(*to))
                    .map(move |(to, place)| format!("    {from} -> {to} ({place})"))
            })
            .collect();
        problems.push(format!(
            "{}: module cycle {} (rule: no cycle between a crate's top-level modules).\n{}\n  \
             fix: move what both sides use into a module of its own that depends on neither.",
            relative(root, &src),
            cycle.iter().cloned().collect::<Vec<_>>().join(" <-> "),
            arrows.join("\n")
        ));
    }
}

/// `(module, offset)` for each `crate::{a, b::c}` and `crate::x` path, as modcycles.py reads them.
fn crate_paths(code: &str) -> Vec<(String, usize)> {
    let is_ident = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let after = &code[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for part in inner.split(',') {
                let name = part.trim().split("::").next().unwrap_or("");
                if is_ident(name) {
                    out.push((name.to_string(), at));
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if is_ident(&name) {
                out.push((name, at));
            }
        }
    }
    out
}

/// Tarjan's strongly connected components with two or more members.
fn strongly_connected(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<BTreeSet<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        found: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on.insert(v);
        for to in w.edges.get(v).into_iter().flat_map(|m| m.keys()) {
            if !w.index.contains_key(to.as_str()) {
                visit(w, to);
                let low = w.low[v].min(w.low[to.as_str()]);
                w.low.insert(v, low);
            } else if w.on.contains(to.as_str()) {
                let low = w.low[v].min(w.index[to.as_str()]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = BTreeSet::new();
            while let Some(top) = w.stack.pop() {
                w.on.remove(top);
                component.insert(top.to_string());
                if top == v {
                    break;
                }
            }
            if component.len() > 1 {
                w.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        found: Vec::new(),
    };
    let nodes: BTreeSet<&str> = edges
        .iter()
        .flat_map(|(from, tos)| {
            std::iter::once(from.as_str()).chain(tos.keys().map(String::as_str))
        })
        .collect();
    for v in nodes {
        if !walk.index.contains_key(v) {
            visit(&mut walk, v);
        }
    }
    walk.found
}

/// Every dependency of the crate's Cargo.toml must be named in its src/, tests/, benches/,
/// examples/ or build.rs (with `-` as `_`), as `cargo machete` checks.
fn check_dependencies(root: &Path, krate: &Path, problems: &mut Vec<String>) {
    let manifest_path = krate.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest_path).expect("read a crate's Cargo.toml");
    let manifest: toml::Table = text.parse().expect("a crate's Cargo.toml parses");
    let mut sources = String::new();
    for dir in ["src", "tests", "benches", "examples"] {
        for file in rust_files(&krate.join(dir)) {
            sources.push_str(&std::fs::read_to_string(file).unwrap_or_default());
        }
    }
    sources.push_str(&std::fs::read_to_string(krate.join("build.rs")).unwrap_or_default());
    // `#[path]` includes from outside the crate (the fuzz checks in the test suite)
    for (at, _) in sources.clone().match_indices("#[path = \"") {
        let target = sources[at + 10..]
            .split('"')
            .next()
            .unwrap_or("")
            .to_string();
        for base in [
            krate.join("tests/suite"),
            krate.join("benches"),
            krate.join("src"),
        ] {
            if let Ok(extra) = std::fs::read_to_string(base.join(&target)) {
                sources.push_str(&extra);
                break;
            }
        }
    }
    let manifest_rel = relative(root, &manifest_path);
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) else {
            continue;
        };
        for name in deps.keys() {
            let ident = name.replace('-', "_");
            let named = sources.match_indices(&ident).any(|(at, _)| {
                let before = sources[..at].chars().next_back();
                let after = sources[at + ident.len()..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !word(before) && !word(after)
            });
            let allowed = format!("{manifest_rel}::{name}");
            if !named && !USED_WITHOUT_NAME.contains(&allowed.as_str()) {
                problems.push(format!(
                    "{manifest_rel}: [{section}] `{name}` is never named in the crate's sources \
                     (rule: no unused dependencies, as `cargo machete`).\n  fix: remove it from \
                     {manifest_rel} (or, when a feature of it is what is needed, add \
                     \"{allowed}\" to USED_WITHOUT_NAME in agent/tests/suite/tidy.rs with why)."
                ));
            }
        }
    }
}

/// What the allow-lists may name: every source file, and `file::function` of every function.
fn problems_seen(root: &Path) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for krate in workspace_crates(root) {
        for file in rust_files(&krate.join("src")) {
            if is_test_file(file.strip_prefix(krate.join("src")).unwrap_or(&file)) {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("read a source file");
            let rel = relative(root, &file);
            let code = strip_tests(&text);
            if code.matches('\n').count() > MAX_FILE_LINES {
                seen.insert(format!("large:{rel}"));
            }
            if !string_errors(&code).is_empty() {
                seen.insert(format!("string:{rel}"));
            }
            for (name, _) in long_functions(&rel, &code) {
                seen.insert(format!("fn:{name}"));
            }
        }
    }
    seen
}

/// An allow-list entry that matches nothing any more must go (so the lists only shrink).
fn check_stale(seen: &BTreeSet<String>, problems: &mut Vec<String>) {
    let lists: [(&str, &str, &[&str]); 4] = [
        ("TABLES", "fn", TABLES),
        ("TEMPORARY_LONG_FNS", "fn", TEMPORARY_LONG_FNS),
        ("TEMPORARY_LARGE_FILES", "large", TEMPORARY_LARGE_FILES),
        ("TEMPORARY_STRING_ERRORS", "string", TEMPORARY_STRING_ERRORS),
    ];
    for (list, kind, entries) in lists {
        for entry in entries {
            if !seen.contains(&format!("{kind}:{entry}")) {
                problems.push(format!(
                    "agent/tests/suite/tidy.rs: {list} names `{entry}`, which no longer breaks \
                     its rule (rule: allow-lists only hold live exceptions).\n  fix: remove \
                     the entry."
                ));
            }
        }
    }
}

/// The rules on small made-up files: each catches what it is for and nothing in test items,
/// comments or strings.
#[test]
fn tidy_rules_catch_what_they_should() {
    let code = "//! x\nfn ok() -> Result<u8, String> { Ok(1) }\n\
                fn fine() -> Result<(), MyError> { Ok(()) }\n\
                // Result<(), String> in a comment\n\
                const S: &str = \"Result<(), String>\";\n\
                #[cfg(test)]\nmod tests { fn t() -> Result<(), String> { Ok(()) } }\n";
    let stripped = strip_tests(code);
    assert!(!stripped.contains("mod tests"), "{stripped}");
    let found = string_errors(&stripped);
    assert_eq!(found, vec![(2, "u8".to_string())]);

    let long = format!(
        "fn short() {{ let s = \"{{\"; }}\nfn long() {{\n{}}}\nfn after() {{}}\n",
        "    step();\n".repeat(MAX_FN_LINES)
    );
    let names: Vec<String> = long_functions("x.rs", &long)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, vec!["x.rs::long".to_string()]);

    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (from, text) in [
        ("api", "use crate::{chat::x, state};"),
        ("chat", "crate::api::f();"),
        ("state", ""),
    ] {
        for (to, _) in crate_paths(text) {
            edges
                .entry(from.into())
                .or_default()
                .insert(to, String::new());
        }
    }
    let cycles = strongly_connected(&edges);
    let expected: BTreeSet<String> = ["api".to_string(), "chat".to_string()].into();
    assert_eq!(cycles, vec![expected]);

    let mut problems = Vec::new();
    check_header("a.rs", "use x;\n", &mut problems);
    check_header("b.rs", "//! b\n", &mut problems);
    assert_eq!(problems.len(), 1, "{problems:?}");
}
