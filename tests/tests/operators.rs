//! Operators see the server: the vendor finds a tenant without its id (orgs
//! by name or verified domain, users by email), `/metrics` shows what the
//! server does in the Prometheus text format, scraped before and after
//! requests, and the decision log keeps each decision.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use warden_e2e::{run_id, Server, Tenant, TOKEN};

/// Creates an org named `name` with a new Admin `admin` and the vendor's
/// `domains`; returns its id.
fn org(server: &Server, name: &str, admin: &str, domains: &[&str]) -> String {
    let admin = server.user(admin);
    server
        .post(
            "/v1/orgs",
            json!({"name": name, "plan": "pro", "admin": admin, "verified_domains": domains}),
        )
        .created_id()
}

/// The ids of a page's items, and its `next`.
fn ids(page: &Value) -> (Vec<String>, Option<String>) {
    let ids = page["items"]
        .as_array()
        .expect("a page has items")
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect();
    (ids, page["next"].as_str().map(str::to_string))
}

/// Every id a listing at `path` (with a query) gives, page by page.
fn all_pages(server: &Server, path: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let cursor = after
            .as_ref()
            .map_or(String::new(), |a| format!("&after={a}"));
        let (page, next) = ids(&server.get(&format!("{path}{cursor}")).expect(200));
        found.extend(page);
        match next {
            Some(next) => after = Some(next),
            None => return found,
        }
    }
    panic!("{path}: more pages than orgs");
}

#[test]
fn the_vendor_finds_orgs_by_page_name_and_domain() {
    let server = Server::start();
    let acme = org(&server, "Acme Inc.", "admin@acme.com", &["acme.com"]);
    let labs = org(&server, "acme labs", "admin@labs.example", &[]);
    let globex = org(&server, "Globex", "admin@globex.com", &["globex.com"]);

    // Every org, in id order, two to a page.
    let (first, next) = ids(&server.get("/v1/orgs?limit=2").expect(200));
    assert_eq!(first.len(), 2);
    let next = next.expect("a third org follows");
    let (rest, last) = ids(&server
        .get(&format!("/v1/orgs?limit=2&after={next}"))
        .expect(200));
    assert_eq!((rest.len(), last), (1, None));
    let mut every: Vec<String> = first.into_iter().chain(rest).collect();
    let listed = every.clone();
    every.sort();
    assert_eq!(listed, every, "id order");
    let mut created = vec![acme.clone(), labs.clone(), globex.clone()];
    created.sort();
    assert_eq!(every, created);

    // A name is a prefix, in any case; one to a page, `next` goes on.
    let mut named = all_pages(&server, "/v1/orgs?name=ACME&limit=1");
    named.sort();
    let mut expected = vec![acme.clone(), labs.clone()];
    expected.sort();
    assert_eq!(named, expected);
    assert_eq!(
        all_pages(&server, "/v1/orgs?name=acme%20l"),
        [labs.as_str()]
    );
    assert!(all_pages(&server, "/v1/orgs?name=initech").is_empty());

    // A domain is its one verified owner, spelled as claims are.
    assert_eq!(
        all_pages(&server, "/v1/orgs?domain=ACME.com."),
        [acme.as_str()]
    );
    assert_eq!(all_pages(&server, "/v1/orgs?domain=globex.com"), [globex]);
    assert!(all_pages(&server, "/v1/orgs?domain=initech.com").is_empty());
    assert!(all_pages(&server, "/v1/orgs?domain=acme.com&name=glob").is_empty());
    let found = server.get("/v1/orgs?domain=acme.com").expect(200);
    assert_eq!(found["items"][0]["name"], "Acme Inc.");
}

#[test]
fn the_directory_is_the_vendors_alone() {
    let server = Server::start();
    org(&server, "Acme", "admin@acme.com", &["acme.com"]);
    let admin = server.get("/v1/users?email=admin@acme.com").expect(200)["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for path in [
        "/v1/orgs",
        "/v1/orgs?domain=acme.com",
        "/v1/users?email=admin@acme.com",
    ] {
        let denied = server.get_as(&admin, path).expect(403);
        assert_eq!(denied["error"]["code"], "forbidden", "{path}");
    }
}

#[test]
fn bad_directory_queries_are_400_naming_the_field() {
    let server = Server::start();
    let bad = [
        ("/v1/orgs?limit=0", "query.limit"),
        ("/v1/orgs?limit=501", "query.limit"),
        ("/v1/orgs?after=nope", "query"),
        ("/v1/orgs?colour=red", "query"),
        ("/v1/orgs?name=a&name=b", "query"),
        ("/v1/orgs?name=%20", "query.name"),
        ("/v1/orgs?domain=not%20a%20domain", "query.domain"),
        ("/v1/users", "query"),
        ("/v1/users?email=nobody", "query.email"),
        ("/v1/users?email=a@b.com&role=admin", "query"),
    ];
    for (path, field) in bad {
        let error = server.get(path).expect(400);
        assert_eq!(error["error"]["code"], "invalid_request", "{path}");
        assert_eq!(error["error"]["field"], field, "{path}: {error}");
    }
}

#[test]
fn users_are_found_by_their_normalised_email() {
    let server = Server::start();
    let ann = server.user("Ann@Example.COM");
    for spelling in ["ann@example.com", "ANN@EXAMPLE.COM", "%20Ann@example.com."] {
        let page = server
            .get(&format!("/v1/users?email={spelling}"))
            .expect(200);
        assert_eq!(ids(&page), (vec![ann.clone()], None), "{spelling}");
        assert_eq!(page["items"][0]["email"], "ann@example.com");
    }
    let none = server.get("/v1/users?email=bob@example.com").expect(200);
    assert_eq!(none, json!({"items": [], "next": null}));
}

/// `GET /metrics` as text, with the admin token.
fn scrape(server: &Server) -> String {
    let response = ureq::get(&format!("{}/metrics", server.url))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .timeout(Duration::from_secs(30))
        .call()
        .expect("scrape");
    assert!(
        response.content_type().starts_with("text/plain"),
        "{}",
        response.content_type()
    );
    response.into_string().unwrap()
}

/// The sum of the samples of `name` whose labels include `labels` (0 when
/// there is none).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
            let matches = series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")));
            matches.then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}

#[test]
fn metrics_move_with_requests_and_need_the_token() {
    let server = Server::start();
    let unauthenticated =
        server.send_raw("GET", "/metrics", None, &[("Authorization", "Bearer nope")]);
    assert_eq!(unauthenticated.status, 401);

    let (org, admin) = server.acme_with_admin();
    let outsider = server.user("eve@evil.example");
    let workspace = server.get(&format!("/v1/orgs/{org}")).expect(200)["default_workspace"]
        .as_str()
        .unwrap()
        .to_string();

    let before = scrape(&server);
    let org_reads = [
        ("route", "/v1/orgs/{id}"),
        ("method", "GET"),
        ("status", "200"),
    ];
    let allowed = [("action", "ViewWorkspace"), ("decision", "allow")];
    let denied = [("action", "ViewWorkspace"), ("decision", "deny")];
    for _ in 0..3 {
        server.get(&format!("/v1/orgs/{org}")).expect(200);
    }
    let check = |user: &str| {
        server.check(user, "ViewWorkspace", "Workspace", &workspace)["decision"].clone()
    };
    assert_eq!(check(&admin), "Allow");
    assert_eq!(check(&admin), "Allow");
    assert_eq!(check(&outsider), "Deny");
    server.get("/v1/no-such-route").expect(404);
    let grant = json!({"credits": 100, "source": "purchase"});
    server
        .post(&format!("/v1/orgs/{org}/credits"), grant)
        .expect(201);
    let after = scrape(&server);

    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    assert_eq!(
        moved("warden_http_requests_total", &org_reads),
        3.0,
        "{after}"
    );
    assert_eq!(moved("warden_decisions_total", &allowed), 2.0, "{after}");
    assert_eq!(moved("warden_decisions_total", &denied), 1.0, "{after}");
    // Routes are templates: no raw path or id becomes a label.
    assert!(!after.contains(&org), "an id leaked into a label");
    assert!(!after.contains("no-such-route"));
    assert!(
        moved(
            "warden_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ) >= 1.0
    );
    // Latency histograms, by route and of checks.
    let latency = [("route", "/v1/authorize"), ("le", "+Inf")];
    assert!(moved("warden_http_request_duration_seconds_bucket", &latency) >= 3.0);
    assert!(moved("warden_check_duration_seconds_count", &[]) >= 3.0);
    // What the server counts itself, read at scrape time.
    assert_eq!(
        moved("warden_ledger_transactions_total", &[]),
        1.0,
        "{after}"
    );
    let cache = sample(&after, "warden_entity_cache_hits_total", &[])
        + sample(&after, "warden_entity_cache_builds_total", &[]);
    assert!(cache >= 3.0, "{after}");

    // The digests in force, as /healthz shows them.
    let health = server.get("/healthz").expect(200);
    let policy = [("digest", health["policy_digest"].as_str().unwrap())];
    let plugins = [("digest", health["plugin_digest"].as_str().unwrap())];
    assert_eq!(
        sample(&after, "warden_policy_info", &policy),
        1.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, "warden_plugins_info", &plugins),
        1.0,
        "{after}"
    );
}

#[test]
fn the_policy_info_follows_a_reload() {
    let server = Server::start();
    let digest = |server: &Server| {
        server.get("/healthz").expect(200)["policy_digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let old = digest(&server);
    assert_eq!(
        sample(&scrape(&server), "warden_policy_info", &[("digest", &old)]),
        1.0
    );
    let freeze = r#"
@id("no-org-viewing")
@reason("Nobody may view organizations during the audit")
forbid (principal, action == Action::"ViewOrg", resource);
"#;
    std::fs::write(server.policies_dir().join("freeze.cedar"), freeze).unwrap();
    server.post("/v1/policies/reload", json!({})).expect(200);
    let new = digest(&server);
    assert_ne!(old, new);
    let text = scrape(&server);
    assert_eq!(
        sample(&text, "warden_policy_info", &[("digest", &new)]),
        1.0,
        "{text}"
    );
    // A recorder cannot forget a series: the replaced digest reads 0.
    let replaced = format!("warden_policy_info{{digest=\"{old}\"}} 0");
    assert!(text.lines().any(|line| line == replaced), "{text}");
}

#[test]
fn plugin_calls_are_counted_and_timed_by_plugin_and_hook() {
    let server = Server::start_with_plugins(&["plugins/usage-pricing"]);
    let t = Tenant::create(&server, "pro", "acme");
    t.grant(&server, 100);
    let before = scrape(&server);
    let usage = format!("/v1/orgs/{}/usage", t.org);
    for n in 1..=3 {
        // No credits given: the plugin prices the run.
        server.post(&usage, t.usage(&run_id(n), None)).expect(201);
    }
    let after = scrape(&server);
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    let pricing = [("plugin", "usage-pricing"), ("hook", "usage-pricing")];
    assert_eq!(moved("warden_plugin_calls_total", &pricing), 3.0, "{after}");
    let timed = moved("warden_plugin_call_duration_seconds_count", &pricing);
    assert_eq!(timed, 3.0, "{after}");
    assert_eq!(moved("warden_plugin_failures_total", &pricing), 0.0);
    // Read at scrape time: the database has a size, and no post waits.
    assert!(
        sample(&after, "warden_database_bytes", &[]) > 0.0,
        "{after}"
    );
    let waiting = "warden_batch_waiting_commands 0";
    assert!(after.lines().any(|line| line == waiting), "{after}");
}

/// The lines of the decision log files `dir/decisions.log*`, oldest first.
fn decision_lines(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().contains("decisions.log"))
        .collect();
    // decisions.log.2, decisions.log.1, decisions.log: oldest first.
    files.sort_by_key(|path| {
        let rotated = path
            .extension()
            .and_then(|e| e.to_str()?.parse::<u32>().ok());
        std::cmp::Reverse(rotated.unwrap_or(0))
    });
    let text: String = files
        .iter()
        .map(|file| std::fs::read_to_string(file).unwrap())
        .collect();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn every_decision_is_logged_with_its_request_id_policies_and_digest() {
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("decisions.log");
    let mut server = Server::start_with(&["--decision-log", file.to_str().unwrap()]);
    let (org, admin) = server.acme_with_admin();
    let outsider = server.user("eve@evil.example");
    let check = |user: &str| {
        json!({
            "principal": {"type": "User", "id": user},
            "action": {"type": "Action", "id": "ViewOrg"},
            "resource": {"type": "Org", "id": org},
        })
    };
    let traced = [
        ("X-Request-Id", "trace-me-1"),
        ("Content-Type", "application/json"),
    ];
    let body = check(&admin).to_string();
    server
        .send_raw("POST", "/v1/authorize", Some(&body), &traced)
        .expect(200);
    let batch = json!({"requests": [check(&admin), check(&outsider)]});
    server.post("/v1/authorize/batch", batch).expect(200);
    let authzen = json!({
        "subject": {"type": "user", "id": outsider},
        "action": {"name": "ViewOrg"},
        "resource": {"type": "org", "id": org},
    });
    server.post("/access/v1/evaluation", authzen).expect(200);
    let digest = server.get("/healthz").expect(200)["policy_digest"].clone();
    // Shutting down writes out every queued line.
    server.shut_down();

    let lines = decision_lines(logs.path());
    assert_eq!(lines.len(), 4, "{lines:?}");
    let first = &lines[0];
    assert_eq!(first["request_id"], "trace-me-1");
    assert_eq!(first["principal"], json!({"type": "User", "id": admin}));
    assert_eq!(first["action"], "ViewOrg");
    assert_eq!(first["resource"], json!({"type": "Org", "id": org}));
    assert_eq!(first["decision"], "Allow");
    assert!(!first["policies"].as_array().unwrap().is_empty(), "{first}");
    assert_eq!(first["policy_digest"], digest);
    assert!(first["latency_us"].is_u64() && first["time"].is_string());
    let decisions: Vec<&Value> = lines.iter().map(|line| &line["decision"]).collect();
    assert_eq!(decisions, ["Allow", "Allow", "Deny", "Deny"]);
    // A batch's items share its request id; ids differ between requests.
    assert_eq!(lines[1]["request_id"], lines[2]["request_id"]);
    assert_ne!(lines[1]["request_id"], lines[3]["request_id"]);
}

#[test]
fn the_decision_log_is_sampled_and_rotated_within_its_bounds() {
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("decisions.log");
    let mut server = Server::start_with(&[
        "--decision-log",
        file.to_str().unwrap(),
        "--decision-log-sample-rate",
        "0.5",
        "--decision-log-max-bytes",
        "4096",
        "--decision-log-files",
        "2",
    ]);
    let (org, admin) = server.acme_with_admin();
    for _ in 0..100 {
        server.check(&admin, "ViewOrg", "Org", &org);
    }
    let scraped = scrape(&server);
    assert_eq!(
        sample(&scraped, "warden_decision_log_lines_total", &[]),
        50.0
    );
    assert_eq!(
        sample(&scraped, "warden_decision_log_dropped_total", &[]),
        0.0
    );
    server.shut_down();
    let lines = decision_lines(logs.path());
    // Rotated twice at least: the oldest lines are gone, none of the kept
    // are, and no file outgrows the bound.
    assert!(logs.path().join("decisions.log.2").exists());
    assert!(!logs.path().join("decisions.log.3").exists());
    assert!(lines.len() < 50 && lines.len() > 10, "{}", lines.len());
    for name in ["decisions.log", "decisions.log.1", "decisions.log.2"] {
        let size = std::fs::metadata(logs.path().join(name)).unwrap().len();
        assert!(size <= 4096, "{name}: {size} bytes");
    }
}
