//! The layers, checked on every test run by reading `src/` as text (no build step): the store
//! imports only base modules, actix stays at the edge and clap in the CLI, the top-level
//! modules form no import cycle, and no function grows past 100 lines. `docs/architecture.md`
//! explains the layers; `../shared/tools/layers.py` runs the first three checks too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules every layer may use, the store included.
const BASE: &[&str] = &[
    "ids", "clock", "config", "crypto", "model", "error", "store",
];
/// Where actix types may appear.
const EDGE: &[&str] = &[
    "src/http/",
    "src/ui/",
    "src/server.rs",
    "src/main.rs",
    "src/lib.rs",
    "src/cli/",
];
/// Where clap may appear.
const CLAP: &[&str] = &["src/cli/", "src/main.rs", "src/config.rs"];
/// The hubs everything may use (application state, start-up error), left out of cycles.
const HUBS: &[&str] = &["lib", "main", "state", "error"];
const MAX_FN_LINES: usize = 100;

struct Source {
    /// Relative to the crate root, with `/`.
    path: String,
    text: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy();
                out.push(Source {
                    path: rel.replace('\\', "/"),
                    text: std::fs::read_to_string(&path).unwrap(),
                });
            }
        }
    }
    out
}

/// `src/oidc/token/mod.rs` -> `oidc`; `src/state.rs` -> `state`.
fn module_of(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [_, file] => file.trim_end_matches(".rs").to_string(),
        [_, dir, ..] => dir.to_string(),
        _ => String::new(),
    }
}

/// The code before the first `#[cfg(test)]` (test modules sit at the end of a file).
fn non_test(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

/// Top-level modules named by `crate::x` paths, including inside `use crate::{a::b, c}`.
fn crate_uses(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = ident(item.trim());
                if !name.is_empty() {
                    used.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                used.insert(name);
            }
        }
    }
    used
}

fn edges(sources: &[Source]) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in sources {
        let me = module_of(&s.path);
        for used in crate_uses(non_test(&s.text)) {
            if used != me && used != "self" && used != "super" {
                graph.entry(me.clone()).or_default().insert(used);
            }
        }
    }
    graph
}

/// A cycle through `start`, if any (depth-first over the non-hub modules).
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        let here = path.last().cloned().unwrap_or_default();
        for next in graph.get(&here).into_iter().flatten() {
            if HUBS.contains(&next.as_str()) {
                continue;
            }
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(graph, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn the_store_imports_only_base_modules() {
    let bad: Vec<String> = sources()
        .iter()
        .filter(|s| s.path.starts_with("src/store/"))
        .flat_map(|s| {
            crate_uses(non_test(&s.text))
                .into_iter()
                .filter(|u| !BASE.contains(&u.as_str()))
                .map(move |u| format!("{} uses crate::{u}", s.path))
        })
        .collect();
    assert!(bad.is_empty(), "the store reaches up: {bad:#?}");
}

#[test]
fn actix_stays_at_the_edge_and_clap_in_the_cli() {
    let mut bad = Vec::new();
    for s in sources() {
        let code = non_test(&s.text);
        let actix = code.contains("actix_web") || code.contains("actix_http");
        if actix && !EDGE.iter().any(|e| s.path.starts_with(e)) {
            bad.push(format!("{}: actix outside the edge", s.path));
        }
        if code.contains("clap::") && !CLAP.iter().any(|e| s.path.starts_with(e)) {
            bad.push(format!("{}: clap outside the CLI", s.path));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn top_level_modules_form_no_import_cycle() {
    let graph = edges(&sources());
    let cycles: Vec<String> = graph
        .keys()
        .filter(|m| !HUBS.contains(&m.as_str()))
        .filter_map(|m| cycle_from(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

/// Line count of each `fn` body, found by matching braces outside strings and comments.
fn long_functions(s: &Source) -> Vec<String> {
    let lines: Vec<&str> = s.text.lines().collect();
    let mut out = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let is_fn = [
            "fn ",
            "pub fn ",
            "async fn ",
            "pub async fn ",
            "pub(crate) fn ",
        ]
        .iter()
        .any(|p| t.starts_with(p))
            || t.starts_with("pub(crate) async fn ")
            || t.starts_with("const fn ");
        if !is_fn {
            continue;
        }
        let (mut depth, mut opened) = (0i32, false);
        for (i, l) in lines.iter().enumerate().skip(start) {
            let code = strip_literals(l);
            if !opened && code.trim_end().ends_with(';') {
                break;
            }
            for c in code.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                let n = i - start + 1;
                if n > MAX_FN_LINES {
                    out.push(format!("{}:{} ({n} lines): {t}", s.path, start + 1));
                }
                break;
            }
        }
    }
    out
}

/// A line without its string and char literals and its `//` comment.
fn strip_literals(line: &str) -> String {
    let (mut out, mut chars) = (String::new(), line.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\'' => {
                // A char literal ('{', '\'') or a lifetime ('a): skip only the former.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    chars.nth(2);
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_a_hundred_lines() {
    let long: Vec<String> = sources().iter().flat_map(long_functions).collect();
    assert!(long.is_empty(), "split these: {long:#?}");
}

#[test]
fn the_checks_see_what_they_check() {
    // The readers must find what they look for, or the tests above would pass vacuously.
    let all = sources();
    let graph = edges(&all);
    assert!(graph["oidc"].contains("pools"), "{graph:?}");
    assert!(graph["login"].contains("oidc"), "{graph:?}");
    assert!(crate_uses("use crate::{a::b, c};\nuse crate::d::e;").len() == 3);
    let long = Source {
        path: "x.rs".into(),
        text: format!("fn f() {{\n{}}}\n", "    let s = \"}\";\n".repeat(120)),
    };
    assert_eq!(long_functions(&long).len(), 1);
    let mut cyclic = BTreeMap::new();
    cyclic.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    cyclic.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert!(cycle_from(&cyclic, "a").is_some());
}
