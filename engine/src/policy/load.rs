//! Reading a policy directory: the schema, every `.cedar` file, strict
//! validation, and errors that name the file, the line and the column.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{Entity, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The schema's file name inside a policy directory.
pub const SCHEMA_FILE: &str = "schema.cedarschema";
/// The most `.cedar` files a directory may hold.
pub const MAX_POLICY_FILES: usize = 256;
/// The largest policy or schema file accepted.
pub const MAX_POLICY_FILE_BYTES: u64 = 1024 * 1024;

/// The text of a policy directory, read in one go so that a load works on
/// one consistent view of the files.
pub(crate) struct Sources {
    schema: String,
    /// File name → text, sorted by name.
    policies: BTreeMap<String, String>,
    /// sha256 over every file's name and text, the schema first, then the
    /// policy files in name order (see [`crate::policy::PolicySnapshot::digest`]).
    pub digest: String,
}

/// A loaded, validated policy set.
pub(crate) struct Compiled {
    pub schema: Schema,
    /// The schema's action entities when it declares action groups (empty
    /// otherwise), built once per set instead of once per check.
    pub actions: Vec<Entity>,
    pub policies: PolicySet,
    pub files: Vec<PolicyFile>,
}

/// One `.cedar` file of the active set.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyFile {
    /// Its file name in the policy directory.
    pub name: String,
    /// sha256 of its text, as hex.
    pub sha256: String,
    /// The `@id`s of its policies, in file order.
    pub policies: Vec<String>,
}

/// One thing wrong with a policy directory.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// The file's name in the directory, or the directory's path when the
    /// directory itself is at fault.
    pub file: String,
    /// The 1-based line, when the problem has a place in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The 1-based column (in characters) on `line`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// What is wrong, with Cedar's help text when it has one.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a policy directory was refused; every problem found, not just the first.
#[derive(Clone, Debug, Serialize, thiserror::Error)]
pub struct LoadError {
    /// Each problem found, at least one.
    pub problems: Vec<Problem>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.problems.iter().map(Problem::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl From<LoadError> for crate::error::Error {
    fn from(e: LoadError) -> Self {
        crate::error::Error::Rejected {
            code: "policy_rejected",
            message: format!("policy files rejected: {e}"),
            problems: e.problems.iter().map(|p| serde_json::json!(p)).collect(),
        }
    }
}

impl LoadError {
    fn one(file: &str, message: impl Into<String>) -> Self {
        LoadError {
            problems: vec![Problem {
                file: file.to_string(),
                line: None,
                column: None,
                message: message.into(),
            }],
        }
    }
}

/// Reads the schema and every `.cedar` file of `dir`.
pub(crate) fn read_sources(dir: &Path) -> Result<Sources, LoadError> {
    let read = |path: &Path, name: &str| -> Result<String, LoadError> {
        let size = std::fs::metadata(path)
            .map_err(|e| LoadError::one(name, format!("cannot read: {e}")))?
            .len();
        if size > MAX_POLICY_FILE_BYTES {
            return Err(LoadError::one(
                name,
                format!("{size} bytes is over the limit of {MAX_POLICY_FILE_BYTES}"),
            ));
        }
        std::fs::read_to_string(path).map_err(|e| LoadError::one(name, format!("cannot read: {e}")))
    };
    let dir_name = dir.display().to_string();
    let schema = read(&dir.join(SCHEMA_FILE), SCHEMA_FILE)?;
    let mut policies = BTreeMap::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| LoadError::one(&dir_name, format!("cannot list directory: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| LoadError::one(&dir_name, e.to_string()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".cedar") || name.starts_with('.') {
            continue;
        }
        if policies.len() == MAX_POLICY_FILES {
            return Err(LoadError::one(
                &dir_name,
                format!("more than {MAX_POLICY_FILES} policy files"),
            ));
        }
        let text = read(&entry.path(), &name)?;
        policies.insert(name, text);
    }
    if policies.is_empty() {
        return Err(LoadError::one(&dir_name, "no .cedar policy files"));
    }
    let mut hasher = Sha256::new();
    for (name, text) in
        std::iter::once((SCHEMA_FILE, &schema)).chain(policies.iter().map(|(n, t)| (n.as_str(), t)))
    {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    Ok(Sources {
        schema,
        policies,
        digest: hex::encode(hasher.finalize()),
    })
}

/// Parses the schema and policies and validates them strictly. Every policy
/// must carry a unique `@id` (its id in decisions) and a `@reason` (the
/// sentence explanations are built from).
pub(crate) fn compile(sources: &Sources) -> Result<Compiled, LoadError> {
    let schema = match Schema::from_cedarschema_str(&sources.schema) {
        Ok((schema, warnings)) => {
            for warning in warnings {
                tracing::warn!(file = SCHEMA_FILE, "{warning}");
            }
            schema
        }
        Err(e) => {
            return Err(LoadError {
                problems: problems(SCHEMA_FILE, &sources.schema, &e),
            })
        }
    };
    let mut found = Vec::new();
    let mut policies = PolicySet::new();
    let mut origin: HashMap<PolicyId, &str> = HashMap::new();
    let mut files = Vec::new();
    for (name, text) in &sources.policies {
        match parse_file(name, text, &mut policies, &mut origin) {
            Ok(ids) => files.push(PolicyFile {
                name: name.clone(),
                sha256: hex::encode(Sha256::digest(text.as_bytes())),
                policies: ids,
            }),
            Err(mut p) => found.append(&mut p),
        }
    }
    if !found.is_empty() {
        return Err(LoadError { problems: found });
    }
    let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
    for error in result.validation_errors() {
        let file = origin.get(error.policy_id()).copied().unwrap_or("?");
        let text = &sources.policies[file];
        found.extend(problems(file, text, error).into_iter().map(|mut p| {
            p.message = format!("policy {}: {}", error.policy_id(), p.message);
            p
        }));
    }
    for warning in result.validation_warnings() {
        tracing::warn!(policy = %warning.policy_id(), "{warning}");
    }
    if !found.is_empty() {
        return Err(LoadError { problems: found });
    }
    let actions = schema
        .action_entities()
        .map_err(|e| LoadError::one(SCHEMA_FILE, e.to_string()))?;
    // Action entities only matter for action groups; without groups, leaving
    // them out spares every check a third of its entity hierarchy work.
    let grouped = actions
        .iter()
        .any(|action| !action.clone().into_inner().2.is_empty());
    let actions = match grouped {
        true => actions.iter().cloned().collect(),
        false => Vec::new(),
    };
    Ok(Compiled {
        schema,
        actions,
        policies,
        files,
    })
}

/// Parses one file into `set`, renaming each policy to its `@id`.
fn parse_file<'a>(
    name: &'a str,
    text: &str,
    set: &mut PolicySet,
    origin: &mut HashMap<PolicyId, &'a str>,
) -> Result<Vec<String>, Vec<Problem>> {
    let parsed = PolicySet::from_str(text).map_err(|e| problems(name, text, &e))?;
    if parsed.templates().next().is_some() {
        return Err(
            LoadError::one(name, "templates are not supported; write static policies").problems,
        );
    }
    let mut ids = Vec::new();
    let mut found = Vec::new();
    for policy in parsed.policies() {
        let problem = |message: String| Problem {
            file: name.to_string(),
            line: None,
            column: None,
            message,
        };
        let Some(id) = policy.annotation("id") else {
            found.push(problem(format!(
                "a policy has no @id annotation: {}",
                first_line(&policy.to_string())
            )));
            continue;
        };
        if policy
            .annotation("reason")
            .is_none_or(|r| r.trim().is_empty())
        {
            found.push(problem(format!("policy {id} has no @reason annotation")));
        }
        let id = PolicyId::new(id);
        if let Some(other) = origin.get(&id) {
            found.push(problem(format!(
                "policy id {id} is already used in {other}"
            )));
            continue;
        }
        set.add(policy.new_id(id.clone()))
            .map_err(|e| vec![problem(e.to_string())])?;
        origin.insert(id.clone(), name);
        ids.push(id.to_string());
    }
    if found.is_empty() {
        Ok(ids)
    } else {
        Err(found)
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// Turns a Cedar diagnostic (or each of its related ones) into problems
/// located in `text`.
fn problems(file: &str, text: &str, diagnostic: &dyn Diagnostic) -> Vec<Problem> {
    let mut out: Vec<Problem> = diagnostic
        .related()
        .map(|related| related.map(|d| problem(file, text, d)).collect())
        .unwrap_or_default();
    if out.is_empty() {
        out.push(problem(file, text, diagnostic));
    }
    out
}

fn problem(file: &str, text: &str, d: &dyn Diagnostic) -> Problem {
    let offset = d
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|l| l.offset());
    let (line, column) = offset.map(|o| line_column(text, o)).unzip();
    let mut message = d.to_string();
    if let Some(help) = d.help() {
        message = format!("{message} (help: {help})");
    }
    Problem {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
