//! Harness for Warden's end-to-end tests: starts the real `warden` binary
//! on a free loopback port with a temporary data directory, a private copy
//! of the policies and a private plugin directory, and talks HTTP to it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The admin token every test server uses.
pub const TOKEN: &str = "e2e-admin-token-0123456789";

/// How long a server may take to listen: a bound, not a timing assertion.
/// Starting compiles its plugins (debug-built cranelift, on a busy 2-core
/// CI machine that takes tens of seconds).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `warden` binary built by `cargo test --workspace` next to this test
/// executable (same profile), or `WARDEN_BIN`.
pub fn warden_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("WARDEN_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join(format!("warden{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: run the tests with `cargo test --workspace` (it builds the binary) or set WARDEN_BIN",
        bin.display()
    );
    bin
}

/// A running `warden serve` and its directories.
pub struct Server {
    pub url: String,
    dir: tempfile::TempDir,
    extra_args: Vec<String>,
    /// The PostgreSQL database it serves (`--store`), none for the embedded
    /// one in its data directory.
    store: Option<String>,
    child: Option<Child>,
}

/// Whether the suite runs its servers on PostgreSQL: `WARDEN_E2E_STORE`
/// is `postgres` (then `WARDEN_TEST_POSTGRES` names the cluster, see
/// `tests/postgres.sh`), else each server has its embedded database.
pub fn on_postgres() -> bool {
    match std::env::var("WARDEN_E2E_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sled") | Err(_) => false,
        Ok(other) => panic!("WARDEN_E2E_STORE={other}: expected postgres or sled"),
    }
}

/// A new, empty database on the test cluster, as a URL.
pub fn postgres_database() -> String {
    let admin = std::env::var("WARDEN_TEST_POSTGRES").expect(
        "WARDEN_TEST_POSTGRES is not set: run the tests through tests/postgres.sh, \
         which starts a throwaway PostgreSQL (tests/postgres.sh cargo test --workspace)",
    );
    let name = format!("warden_e2e_{}", uuid_like());
    let created = Command::new("psql")
        .args([admin.as_str(), "-qtAc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql runs");
    assert!(
        created.status.success(),
        "CREATE DATABASE {name}: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let (base, _) = admin.rsplit_once('/').expect("a URL naming a database");
    format!("{base}/{name}")
}

/// 32 random hex digits.
fn uuid_like() -> String {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .expect("random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An HTTP answer: status, headers and JSON body (`Null` when the body is
/// empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// Header names (lower case) and values, in the order received.
    pub headers: Vec<(String, String)>,
}

impl Answer {
    /// The value of header `name` (any case), if the answer has it once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let (_, value) = values.next()?;
        values.next().is_none().then_some(value.as_str())
    }

    /// The body, after checking the status.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// `body.id` as a string, after checking for 201.
    #[track_caller]
    pub fn created_id(self) -> String {
        let body = self.expect(201);
        body["id"]
            .as_str()
            .expect("created record has an id")
            .to_string()
    }
}

impl Server {
    /// Starts a server on the default policies.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server with extra `warden serve` flags.
    pub fn start_with(extra_args: &[&str]) -> Server {
        Server::start_configured(extra_args, &[], None)
    }

    /// Starts a server whose plugin directory holds copies of `plugins`
    /// (plugin directories relative to the repository root, e.g.
    /// `plugins/domain-autojoin` or `tests/plugins/trap`).
    pub fn start_with_plugins(plugins: &[&str]) -> Server {
        Server::start_configured(&[], plugins, None)
    }

    /// Starts a server with extra flags, plugins, and `warden_toml` as the
    /// config file (the server's working directory's `warden.toml`).
    pub fn start_configured(
        extra_args: &[&str],
        plugins: &[&str],
        warden_toml: Option<&str>,
    ) -> Server {
        let store = on_postgres().then(postgres_database);
        let mut server = Server::prepared(extra_args, plugins, warden_toml, store);
        server.spawn();
        server
    }

    /// A server, not started yet, on `store` (else its embedded database).
    fn prepared(
        extra_args: &[&str],
        plugins: &[&str],
        warden_toml: Option<&str>,
        store: Option<String>,
    ) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_dir(&repo_root().join("policies"), &dir.path().join("policies"));
        std::fs::create_dir_all(dir.path().join("plugins")).expect("plugins dir");
        for plugin in plugins {
            copy_plugin(plugin, &dir.path().join("plugins"));
        }
        if let Some(text) = warden_toml {
            std::fs::write(dir.path().join("warden.toml"), text).expect("write warden.toml");
        }
        Server {
            url: String::new(),
            dir,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            store,
            child: None,
        }
    }

    /// Starts `count` servers on one new PostgreSQL database, each with its
    /// own directories and plugins (copies of `plugins`), sharing the admin
    /// token and the credential key as replicas behind a load balancer do.
    pub fn replicas(count: usize, plugins: &[&str]) -> Vec<Server> {
        Server::replicas_on(&postgres_database(), count, plugins)
    }

    /// [`Server::replicas`] on the PostgreSQL database at `url`.
    pub fn replicas_on(url: &str, count: usize, plugins: &[&str]) -> Vec<Server> {
        (0..count)
            .map(|_| {
                let mut server = Server::prepared(&[], plugins, None, Some(url.to_string()));
                // The same key in each replica's own directory.
                let key = server.dir.path().join("credential.key");
                std::fs::write(&key, "ab".repeat(32)).expect("write key");
                server.extra_args = vec!["--credential-key-file".into(), key.display().to_string()];
                server.spawn();
                server
            })
            .collect()
    }

    /// Starts a server on its embedded database, whichever backend the
    /// suite runs on.
    pub fn start_embedded() -> Server {
        let mut server = Server::prepared(&[], &[], None, None);
        server.spawn();
        server
    }

    /// The PostgreSQL database this server serves, if not its embedded one.
    pub fn postgres_url(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// The flags that name this server's database, for offline commands
    /// (`check-store`, `ledger verify`…): its data directory, and its
    /// PostgreSQL database if it has one.
    pub fn store_args(&self) -> Vec<String> {
        let mut args = vec!["--data".to_string(), self.data_dir().display().to_string()];
        if let Some(url) = &self.store {
            args.extend(["--store".to_string(), url.clone()]);
        }
        args
    }

    fn spawn(&mut self) {
        let mut child = Command::new(warden_bin())
            .arg("serve")
            .arg("--data")
            .arg(self.data_dir())
            .arg("--policies")
            .arg(self.policies_dir())
            .arg("--plugins")
            .arg(self.dir.path().join("plugins"))
            .args(["--listen", "127.0.0.1:0"])
            .args(self.store.iter().flat_map(|url| ["--store", url]))
            .args(&self.extra_args)
            .env("WARDEN_ADMIN_TOKEN", TOKEN)
            .env("WARDEN_LOG", "warn")
            .current_dir(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("warden starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("warden listening on ") {
                    let _ = sender.send(addr.to_string());
                }
            }
        });
        self.url = receiver
            .recv_timeout(START_TIMEOUT)
            .expect("warden printed its address within the timeout");
        self.child = Some(child);
    }

    /// Kills the server (SIGKILL) and starts it again on the same directories.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Asks the server to shut down (SIGTERM) and waits until it has; its
    /// directories stay until drop.
    pub fn shut_down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let terminated = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(terminated.success());
            let status = child.wait().unwrap();
            assert!(status.success(), "warden exited with {status}");
        }
    }

    /// Kills the server (SIGKILL); its directories stay until drop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// This server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs `warden check-store` on the (stopped) server's data directory
    /// and fails the test with its report unless every index agrees.
    #[track_caller]
    pub fn assert_store_consistent(&self) {
        let check = Command::new(warden_bin())
            .arg("check-store")
            .args(self.store_args())
            .output()
            .expect("warden check-store runs");
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }

    /// This server's private copy of the policy directory.
    pub fn policies_dir(&self) -> PathBuf {
        self.dir.path().join("policies")
    }

    /// This server's config file (`warden.toml` in its working directory).
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("warden.toml")
    }

    /// This server's plugin directory.
    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// Drops a plugin directory (relative to the repository root) into the
    /// running server's plugin directory: copied beside it, then renamed in,
    /// so the server's watcher never sees half a plugin.
    pub fn drop_in_plugin(&self, plugin: &str) {
        let staging = self.dir.path().join("staging");
        std::fs::create_dir_all(&staging).expect("staging dir");
        copy_plugin(plugin, &staging);
        let name = Path::new(plugin).file_name().expect("plugin dir name");
        std::fs::rename(staging.join(name), self.plugins_dir().join(name)).expect("move plugin in");
    }

    pub fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None, &[])
    }

    pub fn post(&self, path: &str, body: Value) -> Answer {
        self.send("POST", path, Some(body.to_string()), &[])
    }

    /// A POST acting as `actor` (the `X-Warden-Actor` header).
    pub fn post_as(&self, actor: &str, path: &str, body: Value) -> Answer {
        self.send(
            "POST",
            path,
            Some(body.to_string()),
            &[("X-Warden-Actor", actor)],
        )
    }

    pub fn get_as(&self, actor: &str, path: &str) -> Answer {
        self.send("GET", path, None, &[("X-Warden-Actor", actor)])
    }

    /// Any method acting as `actor` (the system when `None`), with an
    /// optional JSON body.
    pub fn call(
        &self,
        actor: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let headers: Vec<(&str, &str)> = actor.map(|a| ("X-Warden-Actor", a)).into_iter().collect();
        self.send(method, path, body.map(|b| b.to_string()), &headers)
    }

    /// Any request: raw body (sent as `application/json`), extra headers;
    /// the admin token unless an `Authorization` header is given.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let json = [("Content-Type", "application/json")];
        let json: &[(&str, &str)] = if body.is_some() { &json } else { &[] };
        let headers: Vec<(&str, &str)> = json.iter().chain(headers).copied().collect();
        self.send_raw(method, path, body.as_deref(), &headers)
    }

    /// Any request: raw body and exactly these headers (a later one of a
    /// name replaces an earlier), besides the admin token unless an
    /// `Authorization` header is given.
    pub fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request =
            ureq::request(method, &format!("{}{path}", self.url)).timeout(Duration::from_secs(30));
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        {
            request = request.set("Authorization", &format!("Bearer {TOKEN}"));
        }
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let result = match body {
            Some(body) => request.send_string(body),
            None => request.call(),
        };
        let response = match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let headers = response
            .headers_names()
            .into_iter()
            .flat_map(|name| {
                let values: Vec<String> = response
                    .all(&name)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                values.into_iter().map(move |value| (name.clone(), value))
            })
            .collect();
        let text = response.into_string().expect("body is text");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{method} {path}: body is not JSON: {text}"))
        };
        Answer {
            status,
            body,
            headers,
        }
    }

    /// A Pro org "Acme" whose first Admin is a new user `admin@acme.com`;
    /// returns (org id, admin id).
    pub fn acme_with_admin(&self) -> (String, String) {
        let admin = self.user("admin@acme.com");
        let org = self
            .post(
                "/v1/orgs",
                json!({"name": "Acme", "plan": "pro", "admin": admin}),
            )
            .created_id();
        (org, admin)
    }

    /// Creates a user and returns its id.
    pub fn user(&self, email: &str) -> String {
        self.post("/v1/users", json!({ "email": email }))
            .created_id()
    }

    /// Asks one authorization question.
    pub fn check(&self, principal: &str, action: &str, kind: &str, id: &str) -> Value {
        self.post(
            "/v1/authorize",
            json!({
                "principal": {"type": "User", "id": principal},
                "action": {"type": "Action", "id": action},
                "resource": {"type": kind, "id": id},
            }),
        )
        .expect(200)
    }

    /// Polls `probe` until it returns true or `timeout` passes.
    pub fn wait_for(&self, timeout: Duration, mut probe: impl FnMut(&Server) -> bool) -> bool {
        let start = Instant::now();
        loop {
            if probe(self) {
                return true;
            }
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Copies a plugin's manifest and component (not its sources) into `into`.
fn copy_plugin(plugin: &str, into: &Path) {
    let from = repo_root().join(plugin);
    let name = from
        .file_name()
        .expect("plugin dir name")
        .to_str()
        .expect("UTF-8 name")
        .to_string();
    let to = into.join(&name);
    std::fs::create_dir_all(&to).expect("create plugin dir");
    for file in ["plugin.toml".to_string(), format!("{name}.wasm")] {
        std::fs::copy(from.join(&file), to.join(&file))
            .unwrap_or_else(|e| panic!("copy {plugin}/{file}: {e}"));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

/// An org with an admin, a member who edits its default workspace, and a
/// flow there.
pub struct Tenant {
    pub org: String,
    pub workspace: String,
    pub flow: String,
    pub admin: String,
    pub member: String,
}

impl Tenant {
    /// An org `name` on `plan` with an admin and a member
    /// (`admin@<name>.com`, `member@<name>.com`) and a flow.
    pub fn create(server: &Server, plan: &str, name: &str) -> Tenant {
        let admin = server.user(&format!("admin@{name}.com"));
        let member = server.user(&format!("member@{name}.com"));
        let org = server
            .post(
                "/v1/orgs",
                json!({"name": name, "plan": plan, "admin": admin}),
            )
            .expect(201);
        let workspace = org["default_workspace"].as_str().unwrap().to_string();
        let org = org["id"].as_str().unwrap().to_string();
        server
            .post_as(
                &admin,
                &format!("/v1/orgs/{org}/members"),
                json!({"user": member, "role": "member"}),
            )
            .expect(201);
        // The member lands in the default workspace as an editor.
        let flow = server
            .post_as(
                &admin,
                &format!("/v1/workspaces/{workspace}/resources"),
                json!({"type": "Flow", "attributes": {"name": "Lead scoring"}}),
            )
            .created_id();
        Tenant {
            org,
            workspace,
            flow,
            admin,
            member,
        }
    }

    /// A usage post's body for run `run` of the flow.
    pub fn usage(&self, run: &str, credits: Option<u64>) -> Value {
        let mut body = json!({"workspace": self.workspace, "flow": self.flow, "run_id": run});
        if let Some(credits) = credits {
            body["credits"] = json!(credits);
        }
        body
    }

    /// Grants `credits` to the org, as the vendor.
    pub fn grant(&self, server: &Server, credits: u64) -> Value {
        server
            .post(
                &format!("/v1/orgs/{}/credits", self.org),
                json!({"credits": credits, "source": "monthly_allowance"}),
            )
            .expect(201)
    }
}

/// A uuid-shaped run id from a number.
pub fn run_id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// Posts usage of one credit to the server at `url`, runs `first_run`,
/// `first_run + 1`…, until it stops answering or `stop` is set; returns
/// the acknowledged runs.
pub fn post_usage_until_stopped(
    url: &str,
    t: &Tenant,
    first_run: u64,
    stop: &AtomicBool,
) -> Vec<String> {
    let mut acknowledged = Vec::new();
    for n in first_run.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let run = run_id(n);
        let answer = ureq::post(&format!("{url}/v1/orgs/{}/usage", t.org))
            .timeout(Duration::from_secs(10))
            .set("Authorization", &format!("Bearer {TOKEN}"))
            .send_json(t.usage(&run, Some(1)));
        match answer {
            Ok(response) if response.status() == 201 => acknowledged.push(run),
            Ok(response) => panic!("usage answered {}", response.status()),
            Err(ureq::Error::Status(status, response)) => {
                panic!(
                    "usage answered {status}: {}",
                    response.into_string().unwrap_or_default()
                )
            }
            Err(_) => break, // killed mid-request: not acknowledged
        }
    }
    acknowledged
}

impl Server {
    /// Every usage run on `org`'s credit account, with how often it is
    /// there, paging newest to oldest.
    pub fn usage_runs(&self, org: &str) -> HashMap<String, u32> {
        let mut runs = HashMap::new();
        let mut after = String::new();
        loop {
            let page = self
                .get(&format!(
                    "/v1/orgs/{org}/accounts/credits/entries?limit=500{after}"
                ))
                .expect(200);
            for entry in page["items"].as_array().unwrap() {
                if entry["kind"] == "usage" {
                    *runs
                        .entry(entry["reference"].as_str().unwrap().to_string())
                        .or_default() += 1;
                }
            }
            match page["next"].as_str() {
                Some(next) => after = format!("&after={next}"),
                None => return runs,
            }
        }
    }
}
