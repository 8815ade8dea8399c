//! Several Warden servers on one PostgreSQL database, as replicas behind a
//! load balancer: requests spread over them must keep every invariant one
//! server keeps, and a write acknowledged by one must be seen by the next
//! check on any other. Needs `WARDEN_TEST_POSTGRES` (`tests/postgres.sh`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use warden_e2e::{postgres_database, warden_bin, Server, TOKEN};

const REPLICAS: usize = 3;
const SEAT_PLUGINS: [&str; 2] = ["plugins/seat-billing", "plugins/domain-autojoin"];

/// An org with an admin, a member in the default workspace and a flow there.
struct Tenant {
    org: String,
    workspace: String,
    flow: String,
    admin: String,
    member: String,
}

fn tenant(server: &Server) -> Tenant {
    let admin = server.user("admin@acme.com");
    let member = server.user("member@acme.com");
    let org = server
        .post(
            "/v1/orgs",
            json!({"name": "Acme", "plan": "pro", "admin": admin}),
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

fn allowed(server: &Server, principal: &str, action: &str, kind: &str, id: &str) -> bool {
    server.check(principal, action, kind, id)["decision"] == "Allow"
}

#[test]
fn a_write_on_one_replica_is_seen_by_the_next_check_on_every_other() {
    let replicas = Server::replicas(REPLICAS, &[]);
    let t = tenant(&replicas[0]);
    let member_path = format!("/v1/orgs/{}/members/{}", t.org, t.member);
    for round in 0..6 {
        // Every replica answers (and caches) the member's checks…
        for replica in &replicas {
            for _ in 0..3 {
                assert!(allowed(replica, &t.member, "RunResource", "Flow", &t.flow));
                assert!(allowed(replica, &t.member, "ViewOrg", "Org", &t.org));
            }
        }
        // …then one replica removes the member, and every other must
        // refuse at once: no cached answer outlives the acknowledged write.
        let writer = &replicas[round % REPLICAS];
        writer
            .send(
                "DELETE",
                &member_path,
                None,
                &[("X-Warden-Actor", &t.admin)],
            )
            .expect(200);
        for replica in &replicas {
            assert!(
                !allowed(replica, &t.member, "RunResource", "Flow", &t.flow),
                "round {round}: a replica still lets a removed member run the flow"
            );
            assert!(!allowed(replica, &t.member, "ViewOrg", "Org", &t.org));
        }
        // Back in, through another replica.
        replicas[(round + 1) % REPLICAS]
            .post_as(
                &t.admin,
                &format!("/v1/orgs/{}/members", t.org),
                json!({"user": t.member, "role": "member"}),
            )
            .expect(201);
        let workspace_members = format!("/v1/workspaces/{}/members", t.workspace);
        let listed = replicas[(round + 2) % REPLICAS]
            .get(&format!("{workspace_members}?limit=500"))
            .expect(200);
        assert!(
            listed["items"].to_string().contains(&t.member),
            "round {round}: the member is back in the default workspace: {listed}"
        );
    }
}

#[test]
fn concurrent_joins_spread_over_replicas_charge_exactly_the_seats_beyond_the_limit() {
    const JOINS: usize = 64;
    const SEAT_LIMIT: usize = 11;
    let replicas = Server::replicas(REPLICAS, &SEAT_PLUGINS);
    let admin = replicas[0].user("root@acme.com");
    let org = replicas[0]
        .post(
            "/v1/orgs",
            json!({"name": "Acme", "plan": "pro", "seat_limit": SEAT_LIMIT, "admin": admin}),
        )
        .created_id();
    let billing = json!({
        "period_start": "2026-01-01T00:00:00Z",
        "period_end": "2026-01-31T00:00:00Z",
        "seat_price_cents": 3000,
    });
    replicas[1]
        .send(
            "PUT",
            &format!("/v1/orgs/{org}/billing"),
            Some(billing.to_string()),
            &[],
        )
        .expect(201);
    let users: Vec<String> = (0..JOINS)
        .map(|i| replicas[i % REPLICAS].user(&format!("u{i}@acme.com")))
        .collect();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(i, user)| {
                let (replica, org, admin) = (&replicas[i % REPLICAS], &org, &admin);
                scope.spawn(move || {
                    let path = format!("/v1/orgs/{org}/members");
                    replica
                        .post_as(admin, &path, json!({"user": user, "role": "member"}))
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let charges = replicas[2]
        .get_as(&admin, &format!("/v1/orgs/{org}/seat-charges?limit=500"))
        .expect(200);
    assert_eq!(
        charges["items"].as_array().unwrap().len(),
        JOINS + 1 - SEAT_LIMIT,
        "the admin holds one seat: seats 2..=11 are free, the other 54 are charged"
    );
    for replica in &replicas {
        let org_now = replica.get(&format!("/v1/orgs/{org}")).expect(200);
        assert_eq!(org_now["seats_used"], JOINS + 1);
    }
    assert_eq!(
        replicas[0].get("/v1/ledger/verify").expect(200)["violation_count"],
        0
    );
}

fn usage(t: &Tenant, run: u64) -> Value {
    json!({"workspace": t.workspace, "flow": t.flow, "run_id": run_id(run), "credits": 1})
}

/// A uuid-shaped run id from a number.
fn run_id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn grant(server: &Server, t: &Tenant, credits: u64) {
    server
        .post(
            &format!("/v1/orgs/{}/credits", t.org),
            json!({"credits": credits, "source": "monthly_allowance"}),
        )
        .expect(201);
}

#[test]
fn concurrent_usage_spread_over_replicas_never_overdraws() {
    const POSTS: u64 = 64;
    const COVERED: u64 = 40;
    let replicas = Server::replicas(REPLICAS, &[]);
    let t = tenant(&replicas[0]);
    grant(&replicas[1], &t, COVERED);
    let path = format!("/v1/orgs/{}/usage", t.org);
    let statuses = Mutex::new(HashMap::<u16, u64>::new());
    std::thread::scope(|s| {
        for n in 0..POSTS {
            let (replica, t, path, statuses) =
                (&replicas[n as usize % REPLICAS], &t, &path, &statuses);
            s.spawn(move || {
                let answer = replica.post(path, usage(t, n));
                *statuses.lock().unwrap().entry(answer.status).or_default() += 1;
            });
        }
    });
    let statuses = statuses.into_inner().unwrap();
    assert_eq!(statuses.get(&201), Some(&COVERED), "{statuses:?}");
    assert_eq!(statuses.get(&402), Some(&(POSTS - COVERED)), "{statuses:?}");
    for replica in &replicas {
        let balance = replica
            .get(&format!("/v1/orgs/{}/balance", t.org))
            .expect(200);
        assert_eq!(balance["credits"], 0, "{balance}");
    }
}

#[test]
fn a_retry_sent_to_another_replica_gets_the_first_answer_and_writes_once() {
    let replicas = Server::replicas(REPLICAS, &[]);
    let body = json!({"name": "Acme", "plan": "pro"}).to_string();
    let key = [("Idempotency-Key", "create-acme-1")];
    let first = replicas[0]
        .send("POST", "/v1/orgs", Some(body.clone()), &key)
        .expect(201);
    for replica in &replicas[1..] {
        let again = replica
            .send("POST", "/v1/orgs", Some(body.clone()), &key)
            .expect(201);
        assert_eq!(first, again);
    }
    let reused = replicas[2]
        .send(
            "POST",
            "/v1/orgs",
            Some(json!({"name": "Globex", "plan": "pro"}).to_string()),
            &key,
        )
        .expect(409);
    assert_eq!(reused["error"]["code"], "idempotency_key_reused");
    let org = first["id"].as_str().unwrap();
    let audit = replicas[1]
        .get(&format!("/v1/orgs/{org}/audit"))
        .expect(200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
}

/// Posts usage to `url` until it stops answering or `stop` is set; returns
/// the acknowledged runs.
fn post_until_stopped(url: &str, t: &Tenant, first_run: u64, stop: &AtomicBool) -> Vec<u64> {
    let mut acknowledged = Vec::new();
    for n in first_run.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let answer = ureq::post(&format!("{url}/v1/orgs/{}/usage", t.org))
            .timeout(Duration::from_secs(10))
            .set("Authorization", &format!("Bearer {TOKEN}"))
            .send_json(usage(t, n));
        match answer {
            Ok(response) if response.status() == 201 => acknowledged.push(n),
            Ok(response) => panic!("usage answered {}", response.status()),
            Err(ureq::Error::Status(status, response)) => panic!(
                "usage answered {status}: {}",
                response.into_string().unwrap_or_default()
            ),
            Err(_) => break, // killed mid-request: not acknowledged
        }
    }
    acknowledged
}

#[test]
fn a_replica_killed_mid_load_loses_nothing_it_acknowledged() {
    let mut replicas = Server::replicas(REPLICAS, &[]);
    let t = tenant(&replicas[0]);
    grant(&replicas[0], &t, 1_000_000_000);
    let acknowledged = Mutex::new(Vec::new());
    for round in 0..3u64 {
        let stop = AtomicBool::new(false);
        let victim = (round as usize) % REPLICAS;
        let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
        std::thread::scope(|s| {
            for (client, url) in urls.iter().enumerate() {
                let (t, stop, acknowledged) = (&t, &stop, &acknowledged);
                let first = (round << 40) | ((client as u64) << 32);
                s.spawn(move || {
                    let runs = post_until_stopped(url, t, first, stop);
                    acknowledged.lock().unwrap().extend(runs);
                });
            }
            std::thread::sleep(Duration::from_millis(300 + 100 * round));
            replicas[victim].stop();
            std::thread::sleep(Duration::from_millis(200));
            stop.store(true, Ordering::Relaxed);
        });
        replicas[victim].restart();
    }
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(
        acknowledged.len() >= 10,
        "only {} acknowledged",
        acknowledged.len()
    );
    let entries = ledger_runs(&replicas[1], &t.org);
    for run in &acknowledged {
        assert_eq!(
            entries.get(&run_id(*run)),
            Some(&1),
            "acknowledged run {run} is not recorded exactly once"
        );
    }
    assert!(
        entries.values().all(|n| *n == 1),
        "a run was recorded twice"
    );
    for replica in &mut replicas {
        replica.stop();
    }
    let verify = std::process::Command::new(warden_bin())
        .args(["ledger", "verify"])
        .args(replicas[0].store_args())
        .output()
        .expect("warden ledger verify runs");
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "verify failed:\n{report}");
    replicas[0].assert_store_consistent();
}

/// Every usage run on the org's credit account, with how often it is there.
fn ledger_runs(server: &Server, org: &str) -> HashMap<String, u32> {
    let mut runs = HashMap::new();
    let mut after = String::new();
    loop {
        let page = server
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

#[test]
fn an_embedded_database_copied_to_postgres_serves_the_same_and_replicas_show_one_digest() {
    let mut embedded = Server::start_embedded();
    let t = tenant(&embedded);
    embedded.stop();
    let url = postgres_database();
    let data = embedded.data_dir();
    let warden = |args: &[&str]| {
        let output = std::process::Command::new(warden_bin())
            .args(args)
            .output()
            .expect("warden runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        (
            output.status.code(),
            text + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let copy = [
        "store",
        "copy",
        "--from",
        data.to_str().unwrap(),
        "--to",
        &url,
    ];
    let (status, copied) = warden(&copy);
    assert_eq!(status, Some(0), "{copied}");
    assert!(copied.starts_with("copied "), "{copied}");
    let (status, again) = warden(&copy);
    assert_eq!(
        status,
        Some(2),
        "a second copy into a used database: {again}"
    );
    assert!(again.contains("already holds records"), "{again}");
    let (status, migrated) = warden(&["store", "migrate", "--store", &url]);
    assert_eq!(status, Some(0), "{migrated}");
    assert!(migrated.contains("layout version"), "{migrated}");

    let replicas = Server::replicas_on(&url, 2, &[]);
    for replica in &replicas {
        assert!(allowed(replica, &t.member, "RunResource", "Flow", &t.flow));
        let org = replica.get(&format!("/v1/orgs/{}", t.org)).expect(200);
        assert_eq!(org["seats_used"], 2, "{org}");
    }
    let health: Vec<Value> = replicas
        .iter()
        .map(|r| r.get("/healthz").expect(200))
        .collect();
    for key in ["policy_digest", "plugin_digest"] {
        assert!(
            health[0][key].as_str().is_some_and(|d| d.len() == 64),
            "{}",
            health[0]
        );
        assert_eq!(
            health[0][key], health[1][key],
            "replicas of one setup, one {key}"
        );
    }
    let plugins = replicas[0].get("/v1/plugins").expect(200);
    assert_eq!(plugins["digest"], health[0]["plugin_digest"]);
}
