// SPDX-License-Identifier: MIT OR Apache-2.0
//! `cargo xtask public-api [--bless] [CRATE...]`: the public API of the
//! published library crates as a text listing, one item per line, checked
//! into the repository beside each crate (`CRATE/public-api.txt`).
//!
//! The listing is rustdoc's JSON output (nightly, every feature on, as
//! docs.rs builds it) reduced to what a user can name: every public item by
//! the path it is reachable at, with its signature; struct fields and enum
//! variants; the traits each type implements, auto traits included;
//! `#[non_exhaustive]`. Items hidden from the docs (`#[doc(hidden)]`) are
//! not part of it. Without `--bless` it fails when the crate's API differs
//! from its listing, and prints the difference: every change to the surface
//! is then a deliberate change to the listing, in the same commit.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::Result;
use crate::process::{self, workspace_root};

/// The crates whose API is listed.
pub const CRATES: [&str; 3] = ["ipvs-sys", "ipvs", "lb-sched"];

/// `cargo xtask public-api [--bless] [CRATE...]`
pub fn main(args: &[String]) -> Result<i32> {
    let bless = args.iter().any(|a| a == "--bless");
    let mut crates: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    if crates.is_empty() {
        crates = CRATES.to_vec();
    }
    let mut differ = false;
    for name in crates {
        differ |= !check(name, bless)?;
    }
    Ok(i32::from(differ))
}

/// Compares (or with `bless`, writes) `name`'s listing; true when it
/// matches.
pub fn check(name: &str, bless: bool) -> Result<bool> {
    let listing = listing(name)?;
    let file = listing_path(name);
    if bless {
        std::fs::write(&file, &listing).map_err(|e| format!("{}: {e}", file.display()))?;
        eprintln!("xtask: wrote {}", file.display());
        return Ok(true);
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    if committed == listing {
        eprintln!("xtask: the public API of {name} matches {}", file.display());
        return Ok(true);
    }
    let old: BTreeSet<&str> = committed.lines().collect();
    let new: BTreeSet<&str> = listing.lines().collect();
    eprintln!(
        "xtask: the public API of {name} differs from {} (run `cargo xtask public-api --bless {name}` \
         if the change is deliberate, and say why in the commit):",
        file.display()
    );
    for line in old.difference(&new) {
        eprintln!("- {line}");
    }
    for line in new.difference(&old) {
        eprintln!("+ {line}");
    }
    Ok(false)
}

fn listing_path(name: &str) -> PathBuf {
    workspace_root().join(name).join("public-api.txt")
}

/// Builds `name`'s rustdoc JSON and reduces it to the listing.
fn listing(name: &str) -> Result<String> {
    let root = workspace_root();
    process::run(
        Command::new("cargo")
            .current_dir(&root)
            .args([
                "+nightly",
                "rustdoc",
                "--quiet",
                "-p",
                name,
                "--lib",
                "--all-features",
            ])
            .args(["--", "-Z", "unstable-options", "--output-format", "json"])
            .env("RUSTDOCFLAGS", "")
            .env("CARGO_TARGET_DIR", root.join("target").join("public-api")),
    )?;
    let json_path = root
        .join("target")
        .join("public-api")
        .join("doc")
        .join(format!("{}.json", name.replace('-', "_")));
    let text =
        std::fs::read_to_string(&json_path).map_err(|e| format!("{}: {e}", json_path.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("rustdoc JSON: {e}"))?;
    let mut lines = Listing::new(&doc).lines()?;
    lines.sort();
    lines.dedup();
    Ok(lines.join("\n") + "\n")
}

/// Walks the crate from its root module.
struct Listing<'a> {
    index: &'a serde_json::Map<String, Value>,
    paths: &'a serde_json::Map<String, Value>,
    /// The public path of each local item, as first reached from the root.
    public: HashMap<String, String>,
    root: String,
}

impl<'a> Listing<'a> {
    fn new(doc: &'a Value) -> Self {
        let empty = Box::leak(Box::new(serde_json::Map::new()));
        Self {
            index: doc["index"].as_object().unwrap_or(empty),
            paths: doc["paths"].as_object().unwrap_or(empty),
            public: HashMap::new(),
            root: id_of(&doc["root"]),
        }
    }

    fn lines(&mut self) -> Result<Vec<String>> {
        let root = self.root.clone();
        let name = self.item(&root)?["name"]
            .as_str()
            .unwrap_or("crate")
            .to_owned();
        // First pass: the public path of everything reachable.
        let mut reachable = Vec::new();
        self.collect(&root, &name, &mut reachable)?;
        // Second pass: each item with its signature.
        let mut lines = Vec::new();
        for (id, path) in reachable {
            self.describe(&id, &path, &mut lines)?;
        }
        Ok(lines)
    }

    fn item(&self, id: &str) -> Result<&'a Value> {
        self.index
            .get(id)
            .ok_or_else(|| format!("rustdoc JSON: no item {id}"))
    }

    /// Records `id` (at `path`) and what a module or re-export reaches.
    fn collect(&mut self, id: &str, path: &str, out: &mut Vec<(String, String)>) -> Result<()> {
        if self.public.contains_key(id) {
            return Ok(());
        }
        self.public.insert(id.to_owned(), path.to_owned());
        out.push((id.to_owned(), path.to_owned()));
        let item = self.item(id)?;
        if let Some(module) = item["inner"].get("module") {
            for child in module["items"].as_array().into_iter().flatten() {
                let child = id_of(child);
                let Some(child_item) = self.index.get(&child) else {
                    continue;
                };
                if child_item["visibility"] != "public" {
                    continue;
                }
                if let Some(reexport) = child_item["inner"].get("use") {
                    let name = reexport["name"].as_str().unwrap_or_default();
                    let target = id_of(&reexport["id"]);
                    let child_path = format!("{path}::{name}");
                    if self.index.contains_key(&target) {
                        self.collect(&target, &child_path, out)?;
                    } else {
                        out.push((child.clone(), child_path));
                    }
                    continue;
                }
                let name = child_item["name"].as_str().unwrap_or_default();
                self.collect(&child, &format!("{path}::{name}"), out)?;
            }
        }
        Ok(())
    }

    fn describe(&self, id: &str, path: &str, lines: &mut Vec<String>) -> Result<()> {
        let item = self.item(id)?;
        let inner = &item["inner"];
        let attrs = self.attrs(item);
        let Some((kind, body)) = inner.as_object().and_then(|o| o.iter().next()) else {
            return Ok(());
        };
        match kind.as_str() {
            "module" => lines.push(format!("pub mod {path}")),
            "use" => lines.push(format!("pub use {path}")),
            "struct" => {
                let generics = self.generics(&body["generics"]);
                lines.push(format!("{attrs}pub struct {path}{generics}"));
                match &body["kind"] {
                    Value::Object(k) if k.contains_key("plain") => {
                        for field in k["plain"]["fields"].as_array().into_iter().flatten() {
                            self.field(&id_of(field), path, lines)?;
                        }
                    }
                    Value::Object(k) if k.contains_key("tuple") => {
                        let fields: Vec<String> = k["tuple"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|f| match f {
                                Value::Null => "_".to_owned(),
                                f => self
                                    .index
                                    .get(&id_of(f))
                                    .map(|i| self.ty(&i["inner"]["struct_field"]))
                                    .unwrap_or_default(),
                            })
                            .collect();
                        lines.push(format!("pub struct {path}({})", fields.join(", ")));
                    }
                    _ => {}
                }
                self.impls(&body["impls"], path, lines)?;
            }
            "enum" => {
                let generics = self.generics(&body["generics"]);
                lines.push(format!("{attrs}pub enum {path}{generics}"));
                for variant in body["variants"].as_array().into_iter().flatten() {
                    self.variant(&id_of(variant), path, lines)?;
                }
                self.impls(&body["impls"], path, lines)?;
            }
            "function" => lines.push(format!("{attrs}{}", self.function(path, body))),
            "constant" => lines.push(format!("pub const {path}: {}", self.ty(&body["type"]))),
            "static" => lines.push(format!("pub static {path}: {}", self.ty(&body["type"]))),
            "type_alias" => lines.push(format!(
                "pub type {path}{} = {}",
                self.generics(&body["generics"]),
                self.ty(&body["type"])
            )),
            "trait" => {
                lines.push(format!(
                    "{attrs}pub trait {path}{}",
                    self.generics(&body["generics"])
                ));
                for member in body["items"].as_array().into_iter().flatten() {
                    self.member(&id_of(member), path, lines)?;
                }
            }
            "macro" => lines.push(format!("pub macro {path}!")),
            other => lines.push(format!("pub {other} {path}")),
        }
        Ok(())
    }

    fn field(&self, id: &str, owner: &str, lines: &mut Vec<String>) -> Result<()> {
        let field = self.item(id)?;
        if field["visibility"] != "public" && field["visibility"] != "default" {
            return Ok(());
        }
        let name = field["name"].as_str().unwrap_or("_");
        lines.push(format!(
            "pub {owner}::{name}: {}",
            self.ty(&field["inner"]["struct_field"])
        ));
        Ok(())
    }

    fn variant(&self, id: &str, owner: &str, lines: &mut Vec<String>) -> Result<()> {
        let variant = self.item(id)?;
        let name = variant["name"].as_str().unwrap_or("_");
        let attrs = self.attrs(variant);
        let kind = &variant["inner"]["variant"]["kind"];
        match kind {
            Value::Object(k) if k.contains_key("tuple") => {
                let fields: Vec<String> = k["tuple"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        self.index
                            .get(&id_of(f))
                            .map(|i| self.ty(&i["inner"]["struct_field"]))
                            .unwrap_or_else(|| "_".to_owned())
                    })
                    .collect();
                lines.push(format!("{attrs}pub {owner}::{name}({})", fields.join(", ")));
            }
            Value::Object(k) if k.contains_key("struct") => {
                lines.push(format!("{attrs}pub {owner}::{name} {{ .. }}"));
                for field in k["struct"]["fields"].as_array().into_iter().flatten() {
                    self.field(&id_of(field), &format!("{owner}::{name}"), lines)?;
                }
            }
            _ => lines.push(format!("{attrs}pub {owner}::{name}")),
        }
        Ok(())
    }

    /// Inherent methods and constants, and the traits implemented.
    fn impls(&self, impls: &Value, owner: &str, lines: &mut Vec<String>) -> Result<()> {
        for id in impls.as_array().into_iter().flatten() {
            let item = self.item(&id_of(id))?;
            let imp = &item["inner"]["impl"];
            if !imp["blanket_impl"].is_null() {
                continue;
            }
            if imp["trait"].is_null() {
                for member in imp["items"].as_array().into_iter().flatten() {
                    let member = self.item(&id_of(member))?;
                    if member["visibility"] == "public" {
                        self.member(&id_of(&member["id"]), owner, lines)?;
                    }
                }
            } else {
                let negative = if imp["is_negative"] == true { "!" } else { "" };
                lines.push(format!(
                    "impl{} {negative}{} for {}",
                    self.generics(&imp["generics"]),
                    self.path(&imp["trait"]),
                    self.ty(&imp["for"])
                ));
            }
        }
        Ok(())
    }

    /// A method, associated constant or type of `owner`.
    fn member(&self, id: &str, owner: &str, lines: &mut Vec<String>) -> Result<()> {
        let member = self.item(id)?;
        let name = member["name"].as_str().unwrap_or("_");
        let path = format!("{owner}::{name}");
        let inner = &member["inner"];
        if let Some(function) = inner.get("function") {
            lines.push(format!(
                "{}{}",
                self.attrs(member),
                self.function(&path, function)
            ));
        } else if let Some(constant) = inner.get("assoc_const") {
            lines.push(format!("pub const {path}: {}", self.ty(&constant["type"])));
        } else if inner.get("assoc_type").is_some() {
            lines.push(format!("pub type {path}"));
        }
        Ok(())
    }

    fn function(&self, path: &str, function: &Value) -> String {
        let header = &function["header"];
        let mut qualifiers = String::new();
        for (flag, word) in [
            ("is_const", "const "),
            ("is_async", "async "),
            ("is_unsafe", "unsafe "),
        ] {
            if header[flag] == true {
                qualifiers.push_str(word);
            }
        }
        let sig = &function["sig"];
        let inputs: Vec<String> = sig["inputs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|input| {
                let name = input[0].as_str().unwrap_or("_");
                let ty = self.ty(&input[1]);
                match (name, ty.as_str()) {
                    ("self", "Self") => "self".to_owned(),
                    ("self", "&Self") => "&self".to_owned(),
                    ("self", "&mut Self") => "&mut self".to_owned(),
                    _ => format!("{name}: {ty}"),
                }
            })
            .collect();
        let output = match &sig["output"] {
            Value::Null => String::new(),
            ty => format!(" -> {}", self.ty(ty)),
        };
        format!(
            "pub {qualifiers}fn {path}{}({}){output}",
            self.generics(&function["generics"]),
            inputs.join(", ")
        )
    }

    fn attrs(&self, item: &Value) -> String {
        let non_exhaustive = item["attrs"].as_array().into_iter().flatten().any(|a| {
            a.as_str().is_some_and(|s| s.contains("non_exhaustive"))
                || a.get("non_exhaustive").is_some()
                || a == "non_exhaustive"
        });
        if non_exhaustive {
            "#[non_exhaustive] ".to_owned()
        } else {
            String::new()
        }
    }

    fn generics(&self, generics: &Value) -> String {
        let params: Vec<String> = generics["params"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["kind"]["type"]["is_synthetic"] != true)
            .map(|p| {
                let name = p["name"].as_str().unwrap_or("_").to_owned();
                if let Some(ty) = p["kind"].get("type") {
                    let bounds = self.bounds(&ty["bounds"]);
                    let default = match &ty["default"] {
                        Value::Null => String::new(),
                        d => format!(" = {}", self.ty(d)),
                    };
                    if bounds.is_empty() {
                        format!("{name}{default}")
                    } else {
                        format!("{name}: {bounds}{default}")
                    }
                } else if let Some(c) = p["kind"].get("const") {
                    format!("const {name}: {}", self.ty(&c["type"]))
                } else {
                    name
                }
            })
            .collect();
        if params.is_empty() {
            String::new()
        } else {
            format!("<{}>", params.join(", "))
        }
    }

    fn bounds(&self, bounds: &Value) -> String {
        bounds
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                if let Some(t) = b.get("trait_bound") {
                    let maybe = if t["modifier"] == "maybe" { "?" } else { "" };
                    format!("{maybe}{}", self.path(&t["trait"]))
                } else if let Some(l) = b.get("outlives") {
                    l.as_str().unwrap_or("'_").to_owned()
                } else {
                    "_".to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" + ")
    }

    /// A path (`resolved_path`) by the public path of what it names.
    fn path(&self, path: &Value) -> String {
        let id = id_of(&path["id"]);
        let name = self.public.get(&id).cloned().unwrap_or_else(|| {
            match self.paths.get(&id).and_then(|p| p["path"].as_array()) {
                Some(segments) => segments
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("::"),
                None => path["path"]
                    .as_str()
                    .unwrap_or("_")
                    .trim_start_matches("$crate::")
                    .to_owned(),
            }
        });
        format!("{name}{}", self.args(&path["args"]))
    }

    fn args(&self, args: &Value) -> String {
        if let Some(angle) = args.get("angle_bracketed") {
            let mut parts: Vec<String> = angle["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    if let Some(t) = a.get("type") {
                        self.ty(t)
                    } else if let Some(l) = a.get("lifetime") {
                        l.as_str().unwrap_or("'_").to_owned()
                    } else if let Some(c) = a.get("const") {
                        c["expr"].as_str().unwrap_or("_").to_owned()
                    } else {
                        "_".to_owned()
                    }
                })
                .collect();
            for c in angle["constraints"].as_array().into_iter().flatten() {
                let name = c["name"].as_str().unwrap_or("_");
                if let Some(t) = c["binding"].get("equality").and_then(|e| e.get("type")) {
                    parts.push(format!("{name} = {}", self.ty(t)));
                } else {
                    parts.push(format!(
                        "{name}: {}",
                        self.bounds(&c["binding"]["constraint"])
                    ));
                }
            }
            if parts.is_empty() {
                String::new()
            } else {
                format!("<{}>", parts.join(", "))
            }
        } else if let Some(paren) = args.get("parenthesized") {
            let inputs: Vec<String> = paren["inputs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| self.ty(t))
                .collect();
            let output = match &paren["output"] {
                Value::Null => String::new(),
                t => format!(" -> {}", self.ty(t)),
            };
            format!("({}){output}", inputs.join(", "))
        } else {
            String::new()
        }
    }

    fn ty(&self, ty: &Value) -> String {
        let Some((kind, body)) = ty.as_object().and_then(|o| o.iter().next()) else {
            return ty.as_str().unwrap_or("_").to_owned();
        };
        match kind.as_str() {
            "resolved_path" => self.path(body),
            "generic" | "primitive" => body.as_str().unwrap_or("_").to_owned(),
            "borrowed_ref" => {
                let lifetime = body["lifetime"]
                    .as_str()
                    .map(|l| format!("{l} "))
                    .unwrap_or_default();
                let mutable = if body["is_mutable"] == true {
                    "mut "
                } else {
                    ""
                };
                format!("&{lifetime}{mutable}{}", self.ty(&body["type"]))
            }
            "raw_pointer" => {
                let mutability = if body["is_mutable"] == true {
                    "mut"
                } else {
                    "const"
                };
                format!("*{mutability} {}", self.ty(&body["type"]))
            }
            "slice" => format!("[{}]", self.ty(body)),
            "array" => format!(
                "[{}; {}]",
                self.ty(&body["type"]),
                body["len"].as_str().unwrap_or("_")
            ),
            "tuple" => {
                let types: Vec<String> = body
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| self.ty(t))
                    .collect();
                format!("({})", types.join(", "))
            }
            "impl_trait" => format!("impl {}", self.bounds(body)),
            "dyn_trait" => {
                let traits: Vec<String> = body["traits"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| self.path(&t["trait"]))
                    .collect();
                format!("dyn {}", traits.join(" + "))
            }
            "qualified_path" => format!(
                "<{} as {}>::{}",
                self.ty(&body["self_type"]),
                self.path(&body["trait"]),
                body["name"].as_str().unwrap_or("_")
            ),
            "function_pointer" => {
                let sig = &body["sig"];
                let inputs: Vec<String> = sig["inputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| self.ty(&i[1]))
                    .collect();
                let output = match &sig["output"] {
                    Value::Null => String::new(),
                    t => format!(" -> {}", self.ty(t)),
                };
                format!("fn({}){output}", inputs.join(", "))
            }
            other => other.to_owned(),
        }
    }
}

fn id_of(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
