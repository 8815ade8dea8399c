//! The crate's layers, held: each module of `src` may use only the modules
//! of the layers below its own (ARCHITECTURE.md, "Layers"), and only the
//! external crates its layer is for. Read from the source, so a new `use`
//! that breaks a layer fails here, and a new module must be given a layer.
//!
//! Test code (`tests.rs` files and a file's `#[cfg(test)]` tail) may reach
//! up: a unit test of the ledger runs real commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom to top. A module uses only modules of lower layers.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["secrets"],
    &["store"],
    &["fields", "policy"],
    &["authz"],
    &["plugin"],
    &["ledger"],
    &["app"],
    &["command"],
    &["http"],
    &["config"],
    &["server"],
];

/// The crates of one concern. A name stands for its family too:
/// `cedar_policy` for `cedar_policy_core`.
const HTTP: &[&str] = &["axum", "hyper"];
/// sled, and PostgreSQL's driver and pool.
const DATABASES: &[&str] = &["sled", "tokio_postgres", "deadpool_postgres"];
const CEDAR: &[&str] = &["cedar_policy"];
const WASM: &[&str] = &["wasmtime"];
const ASYNC: &[&str] = &["tokio"];
/// `metrics`, and by family `metrics_exporter_prometheus`: the layers below
/// HTTP count in their own types, read at scrape time.
const METRICS: &[&str] = &["metrics"];

/// The concerns each module must not name: the databases are the store's,
/// Cedar is policy's and authz's, WebAssembly the plugin host's, HTTP and
/// metrics the front end's.
const FORBIDDEN_CRATES: &[(&str, &[&[&str]])] = &[
    ("error", &[HTTP, DATABASES, CEDAR, WASM, ASYNC, METRICS]),
    ("fields", &[HTTP, DATABASES, CEDAR, WASM, METRICS]),
    ("secrets", &[HTTP, DATABASES, CEDAR, WASM, METRICS]),
    ("store", &[HTTP, CEDAR, WASM, METRICS]),
    ("policy", &[HTTP, DATABASES, WASM, METRICS]),
    ("authz", &[HTTP, DATABASES, WASM, METRICS]),
    ("plugin", &[HTTP, DATABASES, CEDAR, METRICS]),
    ("ledger", &[HTTP, DATABASES, CEDAR, WASM, METRICS]),
    ("app", &[HTTP, DATABASES, WASM, METRICS]),
    ("command", &[HTTP, DATABASES, CEDAR, WASM, METRICS]),
    ("http", &[DATABASES, WASM]),
    ("config", &[DATABASES, CEDAR, WASM, METRICS]),
    ("server", &[DATABASES, CEDAR, WASM, METRICS]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The `.rs` files under `dir`.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The production code of a file: none for a `tests.rs`, else what comes
/// before its `#[cfg(test)]` module.
fn production_code(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    // Comments may name anything.
    code.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The crate's modules that `code` names: `crate::x` paths and the items
/// of `use crate::{x, y::z}` groups.
fn modules_named(code: &str) -> Vec<String> {
    let mut named = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        named.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            named.push(item);
        } else {
            named.push(rest.to_string());
        }
    }
    named
        .iter()
        .map(|path| {
            path.trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty() && name != "self")
        .collect()
}

/// The `.rs` files of `src` with their top-level module and their path
/// under `src`; the crate root and the binary sit on top and are left out.
fn module_files() -> Vec<(String, String, PathBuf)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(&src).unwrap().display().to_string();
            let first = relative.split('/').next().unwrap();
            let module = first.trim_end_matches(".rs").to_string();
            (module != "lib" && module != "main").then_some((module, relative, path))
        })
        .collect()
}

/// `(module, file)` → the modules it uses.
fn uses() -> BTreeMap<(String, String), Vec<String>> {
    module_files()
        .into_iter()
        .map(|(module, file, path)| ((module, file), modules_named(&production_code(&path))))
        .collect()
}

#[test]
fn every_module_has_a_layer_and_uses_only_the_layers_below() {
    let mut broken = Vec::new();
    for ((module, file), named) in uses() {
        let Some(own) = layer_of(&module) else {
            broken.push(format!("module {module} ({file}) has no layer in LAYERS"));
            continue;
        };
        for other in named.iter().filter(|other| **other != module) {
            match layer_of(other) {
                Some(layer) if layer < own => {}
                Some(_) => broken.push(format!("{file}: {module} uses {other}, not below it")),
                None => broken.push(format!("{file}: {module} uses {other}, which has no layer")),
            }
        }
    }
    assert!(broken.is_empty(), "layers broken:\n{}", broken.join("\n"));
}

#[test]
fn each_layer_keeps_to_its_own_external_crates() {
    let mut broken = Vec::new();
    for (module, relative, path) in module_files() {
        let Some((_, forbidden)) = FORBIDDEN_CRATES.iter().find(|(m, _)| *m == module) else {
            continue;
        };
        let code = production_code(&path);
        for krate in forbidden.iter().copied().flatten() {
            let named = code.match_indices(krate).any(|(at, _)| {
                // `foo_axum::` or `self.axum::` are other names.
                let own_start =
                    !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.');
                own_start && names_a_path_of_the_family(&code[at + krate.len()..])
            });
            if named {
                broken.push(format!("{relative}: {module} names {krate}"));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// Whether the text after a crate's name makes it a path of that crate or
/// of its family: `::…`, or `_core::…` (a `_`-joined suffix, then `::`).
fn names_a_path_of_the_family(rest: &str) -> bool {
    let suffix = rest.strip_prefix('_').map_or(0, |tail| {
        1 + tail
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .count()
    });
    rest[suffix..].starts_with("::")
}

/// The module path of a source file under `src`: `command/org/mod.rs` is
/// `[command, org]`, `command/org/add_member.rs` `[command, org, add_member]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut path: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|part| part.to_str().unwrap().to_string())
        .collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    path
}

/// The paths `code` names through `crate::`, `super::` or `self::`, made
/// absolute from the module `own`; `use` groups are expanded
/// (`super::{a, b::{self, c}}` names `a`, `b` and `b::c`).
fn absolute_paths(own: &[String], code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("::") {
        // Find where the path this `::` belongs to starts.
        let start = code[..at]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(0, |i| i + 1);
        if start != at - code[start..at].len() || code[..start].ends_with("::") {
            continue;
        }
        let head = &code[start..];
        let is_relative = ["crate::", "super::", "self::"]
            .iter()
            .any(|root| head.starts_with(root));
        // One path per start: only its first `::`.
        if !is_relative || code[start..at].contains("::") {
            continue;
        }
        expand(head, &[], &mut found);
    }
    found
        .into_iter()
        .filter_map(|path| resolve(own, &path))
        .collect()
}

/// Appends to `out` every path spelt at the start of `text`, each after
/// `prefix`; returns how many bytes of `text` the path took.
fn expand(text: &str, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix.to_vec();
    let mut at = 0;
    loop {
        if text[at..].starts_with('{') {
            at += 1;
            loop {
                let rest = &text[at..];
                let item = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
                at += rest.len() - item.len();
                if item.is_empty() || item.starts_with('}') {
                    return (at + 1).min(text.len());
                }
                at += expand(item, &path, out);
            }
        }
        let name: String = text[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        at += name.len();
        // `b::{self}` names the group's own prefix.
        let group_self = name == "self" && !prefix.is_empty();
        if !name.is_empty() && !group_self {
            path.push(name);
        }
        match text[at..].strip_prefix("::") {
            Some(_) => at += 2,
            None => {
                out.push(path);
                return at;
            }
        }
    }
}

/// `crate::a`, `super::a`, `self::a` from module `own` as an absolute path.
fn resolve(own: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut base = own.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// For each directory module (`ledger`, `command`, `command/org`…): each of
/// its children (a file or a directory) → the other children it uses, from
/// anywhere in its subtree.
fn sibling_uses() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let files: Vec<(Vec<String>, Vec<Vec<String>>)> = files
        .iter()
        .map(|path| {
            let own = module_path(path.strip_prefix(&src).unwrap());
            let named = absolute_paths(&own, &production_code(path));
            (own, named)
        })
        .collect();
    let mut modules: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (own, named) in &files {
        // The file belongs to the child `own[depth]` of each ancestor
        // module `own[..depth]`.
        for depth in 0..own.len() {
            let (parent, child) = (&own[..depth], &own[depth]);
            let uses = modules
                .entry(parent.join("/"))
                .or_default()
                .entry(child.clone())
                .or_default();
            for path in named {
                let used = path.get(depth).filter(|_| path.starts_with(parent));
                if let Some(sibling) = used.filter(|s| *s != child && !uses.contains(s)) {
                    uses.push(sibling.clone());
                }
            }
        }
    }
    modules
}

#[test]
fn the_files_of_a_module_use_each_other_without_a_cycle() {
    let modules = sibling_uses();
    // Edges the reader must see: across domains and inside one.
    let uses_of = |module: &str, file: &str| modules[module][file].clone();
    assert!(uses_of("command", "signup").contains(&"org".to_string()));
    assert!(uses_of("command/org", "add_member").contains(&"members".to_string()));
    for (module, uses) in modules.iter().filter(|(m, _)| !m.is_empty()) {
        // Depth-first: a file met again while its own uses are open is a cycle.
        fn visit<'a>(
            file: &'a str,
            uses: &'a BTreeMap<String, Vec<String>>,
            open: &mut Vec<&'a str>,
            done: &mut Vec<&'a str>,
        ) -> Option<Vec<&'a str>> {
            if let Some(at) = open.iter().position(|f| *f == file) {
                return Some(open[at..].to_vec());
            }
            if done.contains(&file) {
                return None;
            }
            open.push(file);
            for next in uses.get(file).into_iter().flatten() {
                if let Some(cycle) = visit(next, uses, open, done) {
                    return Some(cycle);
                }
            }
            open.pop();
            done.push(file);
            None
        }
        let (mut open, mut done) = (Vec::new(), Vec::new());
        for file in uses.keys() {
            if let Some(cycle) = visit(file, uses, &mut open, &mut done) {
                panic!("{module}: its files use each other in a cycle: {cycle:?}");
            }
        }
    }
}

#[test]
fn relative_paths_resolve_from_the_file_module() {
    let own: Vec<String> = ["command", "org", "add_member"].map(String::from).to_vec();
    let code = "use super::{members::admit, counters::{self, decrement}};\n\
                use crate::store::Tx; let x = super::super::signup::run(); self::inner::f();";
    let named: Vec<String> = absolute_paths(&own, code)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        named,
        [
            "command::org::members::admit",
            "command::org::counters",
            "command::org::counters::decrement",
            "store::Tx",
            "command::signup::run",
            "command::org::add_member::inner::f",
        ]
    );
}

#[test]
fn the_reader_sees_grouped_and_plain_paths() {
    let code = "use crate::{error::Error, store::{self, Tx}};\nlet x = crate::ledger::balance(tx);";
    assert_eq!(modules_named(code), ["error", "store", "ledger"]);
}

/// The names `pattern` is followed by in the production code of the files
/// of module `module`, with the file each is in.
fn names_after(module: &str, pattern: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (owner, file, path) in module_files() {
        if owner != module {
            continue;
        }
        let code = production_code(&path);
        for (at, _) in code.match_indices(pattern) {
            let name: String = code[at + pattern.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push((name, file.clone()));
        }
    }
    found
}

/// The command registry holds: every `Command` has a route in `http`
/// (whose document entry, body schema and handler follow from it), and
/// each command has a file of its own, so a command cannot be added
/// without its route and document, nor hide among others.
#[test]
fn every_command_is_served_and_has_its_own_file() {
    let commands = names_after("command", "impl Command for ");
    assert!(
        commands.len() >= 30,
        "the reader finds the commands: {commands:?}"
    );
    let routed: Vec<String> = names_after("http", "=> command ")
        .into_iter()
        .chain(names_after("http", "Takes::Command(\""))
        .map(|(name, _)| name)
        .collect();
    let unserved: Vec<&String> = commands
        .iter()
        .map(|(name, _)| name)
        .filter(|name| !routed.contains(name))
        .collect();
    assert!(
        unserved.is_empty(),
        "commands without a route: {unserved:?}"
    );
    let mut per_file: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, file) in &commands {
        per_file.entry(file).or_default().push(name);
    }
    let shared: Vec<_> = per_file
        .iter()
        .filter(|(_, names)| names.len() > 1)
        .collect();
    assert!(
        shared.is_empty(),
        "files holding several commands: {shared:?}"
    );
}
