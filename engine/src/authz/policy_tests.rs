//! Policy test cases: `tests/*.json` next to the policies, each with a set
//! of entities and cases (request → expected decision and deciding
//! policies). `warden policy test` and `cargo test` run them; the default
//! policies' tests must also ask about every action of the schema.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context as _;
use cedar_policy::{Authorizer, Context, Decision, Entities, Request};
use serde::Deserialize;

use super::EntityRef;
use crate::policy::PolicySnapshot;

/// The sub-directory of a policy directory that holds its tests.
pub const TESTS_DIR: &str = "tests";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    description: String,
    entities: serde_json::Value,
    cases: Vec<TestCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    principal: EntityRef,
    /// An action id (type `Action`).
    action: String,
    resource: EntityRef,
    #[serde(default)]
    context: serde_json::Map<String, serde_json::Value>,
    /// `Allow` or `Deny`.
    decision: String,
    /// The deciding policy ids; not checked when absent.
    reasons: Option<BTreeSet<String>>,
}

/// The outcome of one case.
pub struct CaseOutcome {
    /// The test file's name in `tests/`.
    pub file: String,
    /// The case's name in the file.
    pub name: String,
    /// The action the case asks about.
    pub action: String,
    /// The decision and deciding policies the case expects, as
    /// `Allow [policy, …]`.
    pub expected: String,
    /// The decision and deciding policies the set gave, in the same form.
    pub actual: String,
    /// Whether the decision, and the deciding policies when the case names
    /// them, are as expected.
    pub passed: bool,
}

/// Runs every test file of `dir/tests` against `snapshot`.
pub fn run(dir: &Path, snapshot: &PolicySnapshot) -> anyhow::Result<Vec<CaseOutcome>> {
    let tests_dir = dir.join(TESTS_DIR);
    let mut files: Vec<_> = std::fs::read_dir(&tests_dir)
        .with_context(|| format!("cannot list {}", tests_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut outcomes = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {name}"))?;
        let file: TestFile = serde_json::from_str(&text)
            .with_context(|| format!("{name} is not a valid test file"))?;
        let entities = Entities::from_json_value(file.entities, Some(&snapshot.schema))
            .with_context(|| {
                format!(
                    "{name}: entities do not fit the schema ({})",
                    file.description
                )
            })?;
        for case in file.cases {
            outcomes.push(run_case(&name, &case, snapshot, &entities)?);
        }
    }
    Ok(outcomes)
}

fn run_case(
    file: &str,
    case: &TestCase,
    snapshot: &PolicySnapshot,
    entities: &Entities,
) -> anyhow::Result<CaseOutcome> {
    let where_ = || format!("{file}: case {:?}", case.name);
    let action = EntityRef::new("Action", &case.action)
        .to_uid("action")
        .with_context(where_)?;
    let context = Context::from_json_value(
        serde_json::Value::Object(case.context.clone()),
        Some((&snapshot.schema, &action)),
    )
    .with_context(where_)?;
    let request = Request::new(
        case.principal.to_uid("principal").with_context(where_)?,
        action,
        case.resource.to_uid("resource").with_context(where_)?,
        context,
        Some(&snapshot.schema),
    )
    .with_context(where_)?;
    let response = Authorizer::new().is_authorized(&request, &snapshot.policies, entities);
    let decision = if response.decision() == Decision::Allow {
        "Allow"
    } else {
        "Deny"
    };
    let reasons: BTreeSet<String> = response
        .diagnostics()
        .reason()
        .map(ToString::to_string)
        .collect();
    let describe = |decision: &str, reasons: &BTreeSet<String>| {
        let ids: Vec<&str> = reasons.iter().map(String::as_str).collect();
        format!("{decision} [{}]", ids.join(", "))
    };
    let expected_reasons = case.reasons.as_ref().unwrap_or(&reasons);
    Ok(CaseOutcome {
        file: file.to_string(),
        name: case.name.clone(),
        action: case.action.clone(),
        expected: describe(&case.decision, expected_reasons),
        actual: describe(decision, &reasons),
        passed: decision == case.decision && *expected_reasons == reasons,
    })
}

/// The actions of `snapshot`'s schema that no case asks about, sorted: the
/// rules nothing tests.
pub fn untested_actions(snapshot: &PolicySnapshot, outcomes: &[CaseOutcome]) -> Vec<String> {
    let tested: BTreeSet<&str> = outcomes.iter().map(|o| o.action.as_str()).collect();
    let mut untested: Vec<String> = snapshot
        .schema
        .actions()
        .map(|uid| uid.id().unescaped().to_string())
        .filter(|action| !tested.contains(action.as_str()))
        .collect();
    untested.sort();
    untested
}

/// A table of the outcomes, failures first, and a closing count line.
pub fn report(outcomes: &[CaseOutcome]) -> String {
    let mut lines = Vec::new();
    let (failed, passed): (Vec<_>, Vec<_>) = outcomes.iter().partition(|o| !o.passed);
    for o in failed.iter().chain(passed.iter()) {
        let status = if o.passed { "PASS" } else { "FAIL" };
        let detail = if o.passed {
            o.actual.clone()
        } else {
            format!("expected {}, got {}", o.expected, o.actual)
        };
        lines.push(format!("{status}  {:<18} {:<60} {detail}", o.file, o.name));
    }
    lines.push(format!(
        "policies: {} passed, {} failed",
        passed.len(),
        failed.len()
    ));
    lines.join("\n")
}
