//! The source follows the data's path: read over the `use crate::…` and `super::…`
//! paths of every file in src/ (test code left out), no two modules import each other,
//! directly or through others (a folder's mod.rs and its direct children may refer to
//! each other, as Rust's parent/child habit), and the lower layers import nothing from
//! the orchestration or the writers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::common::root;

type Module = Vec<String>;

/// Every module of src/ with the text of its file, `#[cfg(test)]` code and comments cut.
fn modules() -> BTreeMap<Module, String> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<Module, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, src, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut module: Module = rel
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|l| l == "mod") {
                module.pop();
            }
            if module == ["lib"] || module == ["main"] {
                module.clear();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]") {
                Some(i) => &text[..i],
                None => &text[..],
            };
            let code: String = code
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            out.insert(module, code);
        }
    }
    let src = root().join("src");
    let mut out = BTreeMap::new();
    walk(&src, &src, &mut out);
    out
}

/// The `use` and `pub use` statements of a file, each as its text up to the `;`.
fn statements<'a>(code: &'a str, keyword: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find(keyword) {
        let start = from + i;
        let end = code[start..].find(';').map_or(code.len(), |e| start + e);
        let at_line_start = code[..start]
            .chars()
            .rev()
            .take_while(|c| *c != '\n')
            .all(char::is_whitespace);
        if at_line_start {
            out.push(&code[start + keyword.len()..end]);
        }
        from = end.max(start + 1);
    }
    out
}

/// A path of a `use` statement with `{…}` groups expanded one level, and the name it
/// binds (the last segment, or its `as` alias).
fn expand(path: &str) -> Vec<(Vec<String>, String)> {
    let path: String = path.split_whitespace().collect::<Vec<_>>().join(" ");
    let (base, items) = match path.find('{') {
        Some(i) => (
            &path[..i],
            path[i + 1..]
                .trim_end_matches('}')
                .split(',')
                .collect::<Vec<_>>(),
        ),
        None => ("", vec![path.as_str()]),
    };
    items
        .into_iter()
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(|item| {
            let (item, alias) = match item.split_once(" as ") {
                Some((i, a)) => (i.trim(), Some(a.trim())),
                None => (item, None),
            };
            let full = format!("{base}{item}");
            let parts: Vec<String> = full
                .split("::")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            let name =
                alias.map_or_else(|| parts.last().cloned().unwrap_or_default(), String::from);
            (parts, name)
        })
        .collect()
}

/// `crate::`, `super::`, `self::` or module-relative paths, made absolute; None for
/// another crate's path.
fn absolute(
    module: &Module,
    parts: &[String],
    mods: &BTreeMap<Module, String>,
) -> Option<Vec<String>> {
    let first = parts.first()?;
    Some(match first.as_str() {
        "crate" => parts[1..].to_vec(),
        "self" => module.iter().chain(&parts[1..]).cloned().collect(),
        "super" => {
            // `super` is the parent module, for a.rs and a/mod.rs alike.
            let mut up = module.clone();
            up.pop();
            let mut rest = &parts[1..];
            while rest.first().is_some_and(|s| s == "super") {
                up.pop();
                rest = &rest[1..];
            }
            up.extend(rest.iter().cloned());
            up
        }
        _ => {
            let mut child = module.clone();
            child.push(first.clone());
            if !mods.contains_key(&child) {
                return None;
            }
            module.iter().chain(parts).cloned().collect()
        }
    })
}

/// Every path a file's own code names (its `pub use` re-exports left out: a path through
/// one is followed to where the item is defined), as absolute paths.
fn used_paths(module: &Module, code: &str, mods: &BTreeMap<Module, String>) -> Vec<Vec<String>> {
    let mut own = code.to_string();
    for s in statements(code, "pub use ") {
        own = own.replace(s, "");
    }
    let mut out: Vec<Vec<String>> = statements(&own, "use ")
        .into_iter()
        .flat_map(expand)
        .filter_map(|(parts, _)| absolute(module, &parts, mods))
        .collect();
    // Paths written inline in the code (`crate::x::y(…)`).
    for head in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = own[from..].find(head) {
            let start = from + i;
            from = start + head.len();
            if own[..start]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            let rest = &own[start..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let parts: Vec<String> = rest[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            out.extend(absolute(module, &parts, mods));
        }
    }
    out
}

fn edges(mods: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    // What each module re-exports: bound name → absolute path of the item.
    let mut reexports: BTreeMap<Module, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (module, code) in mods {
        for s in statements(code, "pub use ") {
            for (parts, name) in expand(s) {
                if let Some(path) = absolute(module, &parts, mods) {
                    reexports
                        .entry(module.clone())
                        .or_default()
                        .insert(name, path);
                }
            }
        }
    }
    // The module defining what `parts` names, through re-exports.
    let resolve = |parts: &[String]| -> Option<Module> {
        let mut parts = parts.to_vec();
        for _ in 0..8 {
            let module = (1..=parts.len())
                .rev()
                .map(|i| parts[..i].to_vec())
                .find(|m| mods.contains_key(m))?;
            match parts
                .get(module.len())
                .and_then(|item| reexports.get(&module)?.get(item))
            {
                Some(target) if *target != parts => parts = target.clone(),
                _ => return Some(module),
            }
        }
        None
    };
    let mut out: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, code) in mods {
        let set = out.entry(module.clone()).or_default();
        for parts in used_paths(module, code, mods) {
            if let Some(target) = resolve(&parts)
                && &target != module
                && !target.is_empty()
            {
                set.insert(target);
            }
        }
    }
    out
}

fn parent_child(a: &Module, b: &Module) -> bool {
    (a.len() == b.len() + 1 && a[..b.len()] == b[..])
        || (b.len() == a.len() + 1 && b[..a.len()] == a[..])
}

/// Modules reachable from `from` along paths with at least one edge that is not between
/// a parent and its child: a mod.rs and its children naming each other is no circle, but
/// a circle that passes through such an edge (a re-export) is.
fn reachable(graph: &BTreeMap<Module, BTreeSet<Module>>, from: &Module) -> BTreeSet<Module> {
    let mut seen: BTreeSet<(Module, bool)> = BTreeSet::new();
    let mut stack: Vec<(Module, bool)> = vec![(from.clone(), false)];
    while let Some((m, crossed)) = stack.pop() {
        for next in graph.get(&m).into_iter().flatten() {
            let state = (next.clone(), crossed || !parent_child(&m, next));
            if seen.insert(state.clone()) {
                stack.push(state);
            }
        }
    }
    seen.into_iter()
        .filter(|(_, crossed)| *crossed)
        .map(|(m, _)| m)
        .collect()
}

#[test]
fn no_two_modules_import_each_other() {
    let mods = modules();
    let graph = edges(&mods);
    assert!(graph.len() > 40, "only {} modules read", graph.len());
    let mut circles = Vec::new();
    for module in graph.keys() {
        if reachable(&graph, module).contains(module) {
            circles.push(module.join("::"));
        }
    }
    assert!(
        circles.is_empty(),
        "modules on an import circle: {circles:?}"
    );
}

#[test]
fn lower_layers_import_no_orchestration_report_or_model() {
    let mods = modules();
    let graph = edges(&mods);
    let lower = [
        "engine", "source", "stats", "steps", "blocks", "chunk", "rng", "simd", "onnx", "npz",
        "embed",
    ];
    let upper = ["pipeline", "report", "model"];
    let mut wrong = Vec::new();
    for (module, targets) in &graph {
        if !module.first().is_some_and(|m| lower.contains(&m.as_str())) {
            continue;
        }
        for t in targets {
            if t.first().is_some_and(|m| upper.contains(&m.as_str())) {
                wrong.push(format!("{} imports {}", module.join("::"), t.join("::")));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn the_checker_sees_a_circle() {
    // Two made-up modules naming each other form a circle; a parent naming its child does not.
    let mut mods = BTreeMap::new();
    mods.insert(vec!["a".to_string()], "use crate::b::X;".to_string());
    mods.insert(vec!["b".to_string()], "use crate::a::{Y, Z};".to_string());
    mods.insert(vec!["c".to_string()], "use crate::c::d::W;".to_string());
    mods.insert(
        vec!["c".to_string(), "d".to_string()],
        "use super::V;".to_string(),
    );
    let graph = edges(&mods);
    assert!(reachable(&graph, &vec!["a".to_string()]).contains(&vec!["a".to_string()]));
    assert!(!reachable(&graph, &vec!["c".to_string()]).contains(&vec!["c".to_string()]));
}
