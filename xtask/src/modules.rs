// SPDX-License-Identifier: MIT OR Apache-2.0
//! Which modules of a crate import each other in a circle: the test
//! command keeps the `ipvs` crate's imports running one way (issue 17), so
//! that a call can be followed from the typed API to the socket in one
//! direction.
//!
//! A module depends on another when its code (tests left out) names
//! `crate::other`, or imports it in a `use crate::{other::..}` group.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::Result;

/// The circles among the top-level modules of the crate whose `src` is
/// `src`: each as its modules, sorted. Empty when imports run one way.
pub fn circles(src: &Path) -> Result<Vec<Vec<String>>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let entries = std::fs::read_dir(src).map_err(|e| format!("{}: {e}", src.display()))?;
    let mut sources = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let module = if path.extension().is_some_and(|e| e == "rs") {
            path.file_stem().map(|s| s.to_string_lossy().into_owned())
        } else if path.join("mod.rs").is_file() {
            path.file_name().map(|s| s.to_string_lossy().into_owned())
        } else {
            None
        };
        let Some(module) = module.filter(|m| m != "lib" && m != "main") else {
            continue;
        };
        let text = if path.is_dir() {
            read_tree(&path)?
        } else {
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?
        };
        sources.push((module, text));
    }
    let names: BTreeSet<String> = sources.iter().map(|(m, _)| m.clone()).collect();
    for (module, text) in &sources {
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
        let deps = dependencies(code)
            .into_iter()
            .filter(|d| names.contains(d) && d != module)
            .collect();
        graph.insert(module.clone(), deps);
    }
    Ok(strongly_connected(&graph))
}

/// Every file of a module directory, concatenated.
fn read_tree(dir: &Path) -> Result<String> {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            out.push_str(&read_tree(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(
                &std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
            );
        }
    }
    Ok(out)
}

/// The modules `code` names as `crate::name` or inside `use crate::{..}`.
fn dependencies(code: &str) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find("};").unwrap_or(group.len())];
            for item in group.split(',') {
                let item = item.trim_start_matches(|c: char| c.is_whitespace() || c == '{');
                if item.contains("::") {
                    deps.insert(ident(item));
                }
            }
        } else {
            deps.insert(ident(rest));
        }
    }
    deps
}

/// Tarjan's strongly connected components of more than one module.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_groups_are_dependencies() {
        let code = "use crate::error::{Error, Op};\nuse crate::{key::ServiceKey, proto::Kind};\n\
                    fn f() { crate::session::go(); }\n/// [`crate::Ipvs`]\n";
        let deps = dependencies(code);
        for m in ["error", "key", "proto", "session", "Ipvs"] {
            assert!(deps.contains(m), "{m} in {deps:?}");
        }
    }

    #[test]
    fn a_circle_is_found_and_a_chain_is_not() {
        let graph = |edges: &[(&str, &str)]| {
            let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (a, b) in edges {
                g.entry(a.to_string()).or_default().insert(b.to_string());
                g.entry(b.to_string()).or_default();
            }
            g
        };
        assert!(strongly_connected(&graph(&[("a", "b"), ("b", "c")])).is_empty());
        assert_eq!(
            strongly_connected(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
            vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]
        );
    }
}
