//! Several Warden servers on one PostgreSQL database, as replicas behind a
//! load balancer: requests spread over them must keep every invariant one
//! server keeps, and a write acknowledged by one must be seen by the next
//! check on any other. Needs `WARDEN_TEST_POSTGRES` (`tests/postgres.sh`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use warden_e2e::{
    post_usage_until_stopped, postgres_database, run_id, warden_bin, Answer, Server, Tenant,
};

const REPLICAS: usize = 3;
const SEAT_PLUGINS: [&str; 2] = ["plugins/seat-billing", "plugins/domain-autojoin"];

fn allowed(server: &Server, principal: &str, action: &str, kind: &str, id: &str) -> bool {
    server.check(principal, action, kind, id)["decision"] == "Allow"
}

#[test]
fn a_write_on_one_replica_is_seen_by_the_next_check_on_every_other() {
    let replicas = Server::replicas(REPLICAS, &[]);
    let t = Tenant::create(&replicas[0], "pro", "acme");
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

/// Whether a check of `principal` running the flow, sent with
/// `X-Warden-Consistency: consistency`, is allowed.
fn allowed_with(server: &Server, t: &Tenant, principal: &str, consistency: &str) -> bool {
    let check = json!({
        "principal": {"type": "User", "id": principal},
        "action": {"type": "Action", "id": "RunResource"},
        "resource": {"type": "Flow", "id": t.flow},
    });
    let headers = [
        ("X-Warden-Consistency", consistency),
        ("Content-Type", "application/json"),
    ];
    let answer = server.send_raw("POST", "/v1/authorize", Some(&check.to_string()), &headers);
    answer.expect(200)["decision"] == "Allow"
}

#[test]
fn a_minimize_latency_check_sees_a_write_on_another_replica_within_its_bound() {
    /// `MINIMIZE_LATENCY_STALENESS`, and a margin for a slow machine.
    const BOUND: Duration = Duration::from_millis(100 + 400);
    let replicas = Server::replicas(2, &[]);
    let t = Tenant::create(&replicas[0], "pro", "acme");
    for _ in 0..3 {
        assert!(allowed_with(
            &replicas[1],
            &t,
            &t.member,
            "minimize_latency"
        ));
    }
    let removed = std::time::Instant::now();
    replicas[0]
        .send(
            "DELETE",
            &format!("/v1/orgs/{}/members/{}", t.org, t.member),
            None,
            &[("X-Warden-Actor", &t.admin)],
        )
        .expect(200);
    // A minimize_latency check may answer from data up to the bound old,
    // never older (a full one sees the removal at once: the test above).
    std::thread::sleep(BOUND.saturating_sub(removed.elapsed()));
    assert!(!allowed_with(
        &replicas[1],
        &t,
        &t.member,
        "minimize_latency"
    ));

    for consistency in ["eventually", "at_least:", "at_least:-1", "at_least:x"] {
        let bad = replicas[1].send_raw(
            "POST",
            "/v1/authorize",
            Some("{}"),
            &[
                ("X-Warden-Consistency", consistency),
                ("Content-Type", "application/json"),
            ],
        );
        assert_eq!(bad.status, 400, "{consistency}: {}", bad.body);
        let named = bad.body.to_string().contains("X-Warden-Consistency");
        assert!(named, "{consistency}: {}", bad.body);
    }
}

/// The `X-Warden-Revision` of a write that answered `status`.
fn revision(answer: Answer, status: u16) -> u64 {
    let header = answer
        .headers
        .iter()
        .find(|(name, _)| name == "x-warden-revision")
        .map(|(_, value)| value.parse().unwrap());
    answer.expect(status);
    header.expect("a write answers its revision")
}

#[test]
fn a_check_at_least_as_fresh_as_a_write_sees_it_on_any_replica() {
    let replicas = Server::replicas(REPLICAS, &[]);
    let t = Tenant::create(&replicas[0], "pro", "acme");
    let member_path = format!("/v1/orgs/{}/members/{}", t.org, t.member);
    let mut last = 0;
    for round in 0..6 {
        // Every replica has the member's checks cached, as fresh as it read.
        for replica in &replicas {
            assert!(allowed_with(replica, &t, &t.member, "minimize_latency"));
        }
        let writer = &replicas[round % REPLICAS];
        let removed = writer.send(
            "DELETE",
            &member_path,
            None,
            &[("X-Warden-Actor", &t.admin)],
        );
        let at_least = format!("at_least:{}", revision(removed, 200));
        for replica in &replicas {
            assert!(
                !allowed_with(replica, &t, &t.member, &at_least),
                "round {round}: a check at least as fresh as the removal allowed the member"
            );
        }
        let added = replicas[(round + 1) % REPLICAS].post_as(
            &t.admin,
            &format!("/v1/orgs/{}/members", t.org),
            json!({"user": t.member, "role": "member"}),
        );
        let next = revision(added, 201);
        assert!(next > last, "revisions grow");
        last = next;
        for replica in &replicas {
            assert!(allowed_with(
                replica,
                &t,
                &t.member,
                &format!("at_least:{next}")
            ));
        }
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

#[test]
fn concurrent_usage_spread_over_replicas_never_overdraws() {
    const POSTS: u64 = 64;
    const COVERED: u64 = 40;
    let replicas = Server::replicas(REPLICAS, &[]);
    let t = Tenant::create(&replicas[0], "pro", "acme");
    t.grant(&replicas[1], COVERED);
    let path = format!("/v1/orgs/{}/usage", t.org);
    let statuses = Mutex::new(HashMap::<u16, u64>::new());
    std::thread::scope(|s| {
        for n in 0..POSTS {
            let (replica, t, path, statuses) =
                (&replicas[n as usize % REPLICAS], &t, &path, &statuses);
            s.spawn(move || {
                let answer = replica.post(path, t.usage(&run_id(n), Some(1)));
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

#[test]
fn a_replica_killed_mid_load_loses_nothing_it_acknowledged() {
    let mut replicas = Server::replicas(REPLICAS, &[]);
    let t = Tenant::create(&replicas[0], "pro", "acme");
    t.grant(&replicas[0], 1_000_000_000);
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
                    let runs = post_usage_until_stopped(url, t, first, stop);
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
    let entries = replicas[1].usage_runs(&t.org);
    for run in &acknowledged {
        assert_eq!(
            entries.get(run),
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

#[test]
fn an_embedded_database_copied_to_postgres_serves_the_same_and_replicas_show_one_digest() {
    let mut embedded = Server::start_embedded();
    let t = Tenant::create(&embedded, "pro", "acme");
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
