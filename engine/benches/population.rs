//! A synthetic tenant population for the benchmarks, written through the
//! real write path (`command::execute`), so the database has every record
//! and index a server would have written, audit records included.
//!
//! Users come in orgs of `USERS_PER_ORG`; each org has its default
//! workspace, whose members are all its users, and one flow. A seeded
//! directory is reused (it holds `population.json`), so the 1M-user
//! database is built once per machine. `population.tsv` lists every org,
//! a line each: org, default workspace, flow, then its users (the first is
//! its Admin), tab-separated: what the load test draws its mix from.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;
use warden::app::{Actor, App};
use warden::command::{self, AddMember, Command, CreateOrg, CreateUser, RegisterResource};
use warden::plugin::PluginHost;
use warden::server::open_app;
use warden::store::StoreLocation;

/// Users per org, the size of a small team.
pub const USERS_PER_ORG: usize = 10;
/// Page cache of the seeded database: far below its size at 1M users.
pub const CACHE_BYTES: u64 = 64 * 1024 * 1024;
const MARKER: &str = "population.json";
pub const TENANTS: &str = "population.tsv";

/// The ids a benchmark asks about: a member of an org in the middle of
/// the key space, and a flow of that org's default workspace.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Population {
    pub users: usize,
    pub org: Uuid,
    pub member: Uuid,
    pub flow: Uuid,
}

impl Population {
    /// A check the member is allowed by `member-use-resources`.
    pub fn check_request(&self) -> Value {
        json!({
            "principal": {"type": "User", "id": self.member},
            "action": {"type": "Action", "id": "RunResource"},
            "resource": {"type": "Flow", "id": self.flow},
        })
    }
}

pub fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

/// Opens the app on `data` with the built-in plugin rules (the benchmarks
/// measure checks, which call no plugin).
fn open(data: &Path) -> anyhow::Result<App> {
    let store = StoreLocation::in_data_dir(data);
    open_app(&store, &policies_dir(), CACHE_BYTES, PluginHost::builtin()?)
}

/// Opens `data` seeded with `users` users, seeding it first if needed.
pub fn open_or_seed(data: &Path, users: usize) -> anyhow::Result<(App, Population)> {
    let marker = data.join(MARKER);
    let text = std::fs::read_to_string(&marker).ok();
    if let Some(text) = text.filter(|_| data.join(TENANTS).exists()) {
        let population: Population = serde_json::from_str(&text)?;
        if population.users == users {
            return Ok((open(data)?, population));
        }
    }
    if data.exists() {
        std::fs::remove_dir_all(data)?;
    }
    let app = open(data)?;
    let population = seed(&app, users, &data.join(TENANTS))?;
    app.store.flush_blocking()?;
    std::fs::write(marker, serde_json::to_string_pretty(&population)?)?;
    Ok((app, population))
}

fn seed(app: &App, users: usize, tenants: &Path) -> anyhow::Result<Population> {
    use std::io::Write as _;
    let orgs = users.div_ceil(USERS_PER_ORG);
    let mut lines = std::io::BufWriter::new(std::fs::File::create(tenants)?);
    let mut sample = None;
    for index in 0..orgs {
        let members = USERS_PER_ORG.min(users - index * USERS_PER_ORG);
        let seeded = seed_org(app, index, members)?;
        let ids: Vec<String> = seeded.users.iter().map(Uuid::to_string).collect();
        let (org, workspace, flow) = (seeded.org, seeded.workspace, seeded.flow);
        writeln!(lines, "{org}\t{workspace}\t{flow}\t{}", ids.join("\t"))?;
        if index == orgs / 2 {
            sample = Some(seeded);
        }
        if (index + 1) % 10_000 == 0 {
            eprintln!("seeded {} of {users} users", (index + 1) * USERS_PER_ORG);
        }
    }
    lines.flush()?;
    let sample = sample.expect("at least one org");
    Ok(Population {
        users,
        org: sample.org,
        member: *sample.users.last().expect("orgs have members"),
        flow: sample.flow,
    })
}

/// One seeded org: its default workspace, its flow, its users (the first
/// is its Admin).
struct SeededOrg {
    org: Uuid,
    workspace: Uuid,
    flow: Uuid,
    users: Vec<Uuid>,
}

/// One org with `members` users.
fn seed_org(app: &App, index: usize, members: usize) -> anyhow::Result<SeededOrg> {
    let mut ids = Vec::with_capacity(members);
    for n in 0..members {
        let user = run::<CreateUser>(
            app,
            json!({"email": format!("u{n}@org{index}.example")}),
            |_| (),
        )?;
        ids.push(user.id);
    }
    let org = run::<CreateOrg>(
        app,
        json!({"name": format!("org {index}"), "plan": "pro", "admin": ids[0]}),
        |_| (),
    )?;
    let workspace = org
        .default_workspace
        .expect("orgs start with a default workspace");
    for user in &ids[1..] {
        // A new Member edits the default workspace.
        run::<AddMember>(app, json!({"user": user, "role": "member"}), |c| {
            c.org = org.id
        })?;
    }
    let flow = run::<RegisterResource>(
        app,
        json!({"type": "Flow", "attributes": {"name": "flow"}}),
        |c| {
            c.org = org.id;
            c.workspace = workspace;
        },
    )?;
    Ok(SeededOrg {
        org: org.id,
        workspace,
        flow: flow.id,
        users: ids,
    })
}

/// Parses `body` as the HTTP layer would, fills the path fields, executes.
fn run<C: Command + serde::de::DeserializeOwned>(
    app: &App,
    body: Value,
    path: impl FnOnce(&mut C),
) -> anyhow::Result<C::Output> {
    let mut command: C = serde_json::from_value(body)?;
    path(&mut command);
    Ok(command::execute(app, Actor::System, None, command)?)
}
