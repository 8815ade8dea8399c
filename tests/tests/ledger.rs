//! Credits and billing over HTTP on the real server: grants, usage with its
//! run-id idempotency, 402 on insufficient credits, low-balance events,
//! billing settings, expiring credits, concurrent spending, and
//! acknowledged usage surviving SIGKILL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use warden_e2e::{post_usage_until_stopped, run_id, warden_bin, Server, Tenant};

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

#[test]
fn usage_spends_granted_credits_once_per_run_and_signals_low_balance() {
    let server = Server::start();
    let t = Tenant::create(&server, "pro", "acme");
    let usage = format!("/v1/orgs/{}/usage", t.org);
    assert_eq!(t.grant(&server, 100)["balance_after"], 100);

    let first = server
        .post(&usage, t.usage(&run_id(1), Some(80)))
        .expect(201);
    assert_eq!(
        (
            first["balance_after"].clone(),
            first["thresholds_crossed"].clone()
        ),
        (json!(20), json!([75]))
    );
    let again = server
        .post(&usage, t.usage(&run_id(1), Some(80)))
        .expect(201);
    assert_eq!(again, first, "a retried run answers the first record");
    let conflicting = server
        .post(&usage, t.usage(&run_id(1), Some(5)))
        .expect(409);
    assert_eq!(error_code(&conflicting), "run_already_recorded");

    let second = server
        .post(&usage, t.usage(&run_id(2), Some(20)))
        .expect(201);
    assert_eq!(second["thresholds_crossed"], json!([90]));
    let refused = server
        .post(&usage, t.usage(&run_id(3), Some(1)))
        .expect(402);
    assert_eq!(error_code(&refused), "insufficient_credits");
    // A member records a run without credits: the usage-pricing hook (here
    // the built-in rule) prices it.
    let priced = server
        .post_as(&t.member, &usage, t.usage(&run_id(4), None))
        .expect(201);
    assert_eq!(
        (
            priced["credits"].clone(),
            priced["priced_by"]["plugin"].clone()
        ),
        (json!(0), json!("builtin"))
    );

    let balance = server
        .get_as(&t.admin, &format!("/v1/orgs/{}/balance", t.org))
        .expect(200);
    assert_eq!(balance["credits"], 0, "{balance}");
    assert_eq!(balance["summary"]["used_credits"], 100);
    let report = server.get_as(&t.admin, &usage).expect(200);
    assert_eq!(report["workspaces"]["items"][0]["credits"], 100, "{report}");
    assert_eq!(report["workspaces"]["items"][0]["runs"], 3);
    let events = server
        .get_as(&t.admin, &format!("/v1/orgs/{}/billing-events", t.org))
        .expect(200);
    let thresholds: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["threshold_percent"])
        .collect();
    assert_eq!(thresholds, [&json!(90), &json!(75)]);
    let entries = server
        .get_as(
            &t.admin,
            &format!("/v1/orgs/{}/accounts/credits/entries?limit=2", t.org),
        )
        .expect(200);
    assert_eq!(
        entries["items"][0]["reference"],
        run_id(2),
        "newest first: {entries}"
    );
    let older = server
        .get_as(
            &t.admin,
            &format!(
                "/v1/orgs/{}/accounts/credits/entries?after={}",
                t.org,
                entries["next"].as_str().unwrap()
            ),
        )
        .expect(200);
    assert_eq!(
        older["items"].as_array().unwrap().len(),
        1,
        "the grant: {older}"
    );

    let verified = server.get("/v1/ledger/verify").expect(200);
    assert_eq!(verified["violation_count"], 0, "{verified}");
    assert_eq!(verified["usage_runs"], 3);
}

#[test]
fn ledger_calls_are_authorized_and_bad_input_names_the_field() {
    let server = Server::start();
    let t = Tenant::create(&server, "free", "acme");
    let guest = server.user("guest@acme.com");
    server
        .post_as(
            &t.admin,
            &format!("/v1/orgs/{}/members", t.org),
            json!({"user": guest, "role": "guest_internal"}),
        )
        .expect(201);
    let usage = format!("/v1/orgs/{}/usage", t.org);
    let credits = format!("/v1/orgs/{}/credits", t.org);
    let grant = json!({"credits": 5, "source": "purchase"});
    assert_eq!(
        error_code(
            &server
                .post_as(&t.admin, &credits, grant.clone())
                .expect(403)
        ),
        "forbidden"
    );
    assert_eq!(
        server
            .post(&credits, json!({"credits": 0, "source": "purchase"}))
            .expect(400)["error"]["field"],
        "credits"
    );
    assert_eq!(
        server
            .post(&credits, json!({"credits": "ten", "source": "purchase"}))
            .expect(400)["error"]["field"],
        "body.credits"
    );
    server.post(&credits, grant).expect(201);

    let denied = server
        .post_as(&guest, &usage, t.usage(&run_id(1), None))
        .expect(403);
    assert_eq!(error_code(&denied), "forbidden");
    let mut elsewhere = t.usage(&run_id(1), Some(1));
    elsewhere["flow"] = json!(t.workspace);
    assert_eq!(
        server.post(&usage, elsewhere).expect(404)["error"]["code"],
        "not_found"
    );
    assert_eq!(
        server
            .post(&usage, t.usage("not-a-uuid", Some(1)))
            .expect(400)["error"]["field"],
        "body.run_id"
    );
    server
        .get_as(&t.member, &format!("/v1/orgs/{}/balance", t.org))
        .expect(403);
    server
        .get_as(
            &t.admin,
            &format!("/v1/orgs/{}/accounts/cash/entries", t.org),
        )
        .expect(400);
    assert_eq!(
        error_code(&server.get_as(&t.admin, "/v1/ledger/verify").expect(403)),
        "forbidden"
    );

    let billing = format!("/v1/orgs/{}/billing", t.org);
    let settings = json!({
        "period_start": "2026-01-01T00:00:00Z", "period_end": "2026-02-01T00:00:00Z",
        "seat_price_cents": 1200, "overage_cap_credits": 10,
    });
    let overage = server.send("PUT", &billing, Some(settings.to_string()), &[]);
    assert_eq!(error_code(&overage.expect(409)), "overage_needs_paid_plan");
    let mut settings = settings;
    settings["overage_cap_credits"] = json!(0);
    server
        .send("PUT", &billing, Some(settings.to_string()), &[])
        .expect(201);
    assert_eq!(
        server.get_as(&t.admin, &billing).expect(200)["seat_price_cents"],
        1200
    );
    let charges = server
        .get_as(&t.admin, &format!("/v1/orgs/{}/seat-charges", t.org))
        .expect(200);
    assert_eq!(charges["items"], json!([]));
}

/// How far ahead the expiring grant of the expiry test expires: long
/// enough for a run and a read before it, on a busy machine.
const EXPIRES_IN: Duration = Duration::from_secs(3);

#[test]
fn expiring_credits_are_spent_first_and_leave_the_balance_when_they_expire() {
    let server = Server::start();
    let t = Tenant::create(&server, "pro", "acme");
    let credits = format!("/v1/orgs/{}/credits", t.org);
    let balance = format!("/v1/orgs/{}/balance", t.org);
    let usage = format!("/v1/orgs/{}/usage", t.org);
    let grant = |expires_at: &str| json!({"credits": 50, "source": "promotional", "expires_at": expires_at});
    let past = server
        .post(&credits, grant("2020-01-01T00:00:00Z"))
        .expect(400);
    assert_eq!(past["error"]["field"], "expires_at", "{past}");
    let garbled = server.post(&credits, grant("tomorrow")).expect(400);
    assert_eq!(garbled["error"]["field"], "body.expires_at", "{garbled}");

    let expires_at = time::OffsetDateTime::now_utc() + EXPIRES_IN;
    let rfc3339 = expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let expiring = server.post(&credits, grant(&rfc3339)).expect(201);
    assert_eq!(expiring["expires_at"], rfc3339);
    t.grant(&server, 30);
    let run = server
        .post(&usage, t.usage(&run_id(1), Some(20)))
        .expect(201);
    assert_eq!(run["balance_after"], 60);
    let before = server.get(&balance).expect(200);
    assert_eq!(before["credits"], 60, "{before}");
    assert_eq!(
        before["expiring"][0]["remaining"], 30,
        "the run spent expiring credits first"
    );

    // Wait out the expiry (this is not a timing assertion: nothing is measured).
    while time::OffsetDateTime::now_utc() <= expires_at {
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = server.get(&balance).expect(200);
    assert_eq!(
        (after["credits"].clone(), after["expiring"].clone()),
        (json!(30), json!([])),
        "{after}"
    );
    let run = server
        .post(&usage, t.usage(&run_id(2), Some(5)))
        .expect(201);
    assert_eq!(
        run["balance_after"], 25,
        "the expired 30 left before the run"
    );
    let entries = server
        .get(&format!(
            "/v1/orgs/{}/accounts/credits/entries?limit=2",
            t.org
        ))
        .expect(200);
    let kinds: Vec<&Value> = entries["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["kind"])
        .collect();
    assert_eq!(kinds, [&json!("usage"), &json!("expiry")], "{entries}");
    assert_eq!(entries["items"][1]["amount"], 30);

    let verified = server.get("/v1/ledger/verify").expect(200);
    assert_eq!(verified["violation_count"], 0, "{verified}");
    assert_eq!(verified["credit_lots"], 1);
    let mut server = server;
    server.stop();
    server.assert_store_consistent();
}

#[test]
fn concurrent_spending_never_overdraws() {
    const POSTS: u64 = 64;
    const COVERED: u64 = 40;
    let server = Server::start();
    let t = Tenant::create(&server, "pro", "acme");
    t.grant(&server, COVERED);
    let usage = format!("/v1/orgs/{}/usage", t.org);
    let statuses = Mutex::new(HashMap::<u16, u64>::new());
    std::thread::scope(|s| {
        for n in 0..POSTS {
            let (server, t, usage, statuses) = (&server, &t, &usage, &statuses);
            s.spawn(move || {
                let answer = server.post(usage, t.usage(&run_id(n), Some(1)));
                *statuses.lock().unwrap().entry(answer.status).or_default() += 1;
            });
        }
    });
    let statuses = statuses.into_inner().unwrap();
    assert_eq!(statuses.get(&201), Some(&COVERED), "{statuses:?}");
    assert_eq!(statuses.get(&402), Some(&(POSTS - COVERED)), "{statuses:?}");
    let balance = server
        .get(&format!("/v1/orgs/{}/balance", t.org))
        .expect(200);
    assert_eq!(balance["credits"], 0, "{balance}");
}

#[test]
fn concurrent_posts_of_different_orgs_each_spend_their_own_credits() {
    const POSTS_EACH: u64 = 24;
    let server = Server::start();
    let tenants = [
        Tenant::create(&server, "pro", "acme"),
        Tenant::create(&server, "pro", "globex"),
    ];
    for t in &tenants {
        t.grant(&server, 100);
    }
    // Posts of both orgs arrive together, so they share batches.
    std::thread::scope(|s| {
        for n in 0..POSTS_EACH {
            for (i, t) in tenants.iter().enumerate() {
                let (server, credits) = (&server, i as u64 + 1);
                let run = run_id((i as u64) << 32 | n);
                s.spawn(move || {
                    let usage = format!("/v1/orgs/{}/usage", t.org);
                    server
                        .post(&usage, t.usage(&run, Some(credits)))
                        .expect(201);
                });
            }
        }
    });
    for (i, t) in tenants.iter().enumerate() {
        let balance = server
            .get(&format!("/v1/orgs/{}/balance", t.org))
            .expect(200);
        let spent = POSTS_EACH * (i as u64 + 1);
        assert_eq!(balance["credits"], 100 - spent, "{balance}");
    }
    let verified = server.get("/v1/ledger/verify").expect(200);
    assert_eq!(verified["violation_count"], 0, "{verified}");
}

/// SIGKILLs during continuous acknowledged usage posts.
const KILLS: u64 = 10;
const CLIENTS: u64 = 4;

/// A kill moment in 100–400 ms, different every round.
fn random_delay(round: u64) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    Duration::from_millis(100 + (u64::from(nanos) ^ round.wrapping_mul(0x9e37_79b9)) % 300)
}

#[test]
fn acknowledged_usage_survives_sigkill_exactly_once() {
    let mut server = Server::start();
    let t = Tenant::create(&server, "pro", "acme");
    t.grant(&server, 1_000_000_000);
    let acknowledged = Mutex::new(Vec::new());
    for round in 0..KILLS {
        let stop = AtomicBool::new(false);
        let url = server.url.clone();
        std::thread::scope(|s| {
            for client in 0..CLIENTS {
                let (url, t, stop, acknowledged) = (&url, &t, &stop, &acknowledged);
                s.spawn(move || {
                    let runs =
                        post_usage_until_stopped(url, t, (round << 40) | (client << 32), stop);
                    acknowledged.lock().unwrap().extend(runs);
                });
            }
            std::thread::sleep(random_delay(round));
            server.stop();
            stop.store(true, Ordering::Relaxed);
        });
        server.restart();
    }
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(
        acknowledged.len() as u64 >= KILLS,
        "too few posts acknowledged: {}",
        acknowledged.len()
    );
    let recorded = server.usage_runs(&t.org);
    for run in &acknowledged {
        assert_eq!(
            recorded.get(run),
            Some(&1),
            "acknowledged run {run} is not recorded exactly once"
        );
    }
    assert!(
        recorded.values().all(|n| *n == 1),
        "a run was recorded twice"
    );

    server.stop();
    let verify = std::process::Command::new(warden_bin())
        .args(["ledger", "verify"])
        .args(server.store_args())
        .output()
        .expect("warden ledger verify runs");
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "verify failed:\n{report}");
    assert!(report.contains("ok: no violations"), "{report}");
}

#[test]
fn orgs_reusing_one_run_id_keep_the_ledger_sound() {
    let mut server = Server::start();
    let (acme, globex) = (
        Tenant::create(&server, "pro", "acme"),
        Tenant::create(&server, "pro", "globex"),
    );
    for (t, credits) in [(&acme, 3), (&globex, 5)] {
        t.grant(&server, 10);
        let usage = format!("/v1/orgs/{}/usage", t.org);
        let posted = server
            .post(&usage, t.usage(&run_id(1), Some(credits)))
            .expect(201);
        assert_eq!(posted["balance_after"], 10 - credits);
    }
    let verified = server.get("/v1/ledger/verify").expect(200);
    assert_eq!(verified["violation_count"], 0, "{verified}");
    assert_eq!(verified["usage_runs"], 2, "{verified}");

    server.stop();
    let verify = std::process::Command::new(warden_bin())
        .args(["ledger", "verify"])
        .args(server.store_args())
        .output()
        .expect("warden ledger verify runs");
    let report = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(0), "{report}");
}

/// A run re-sent by whoever posted it is answered from its record before
/// any check (its flow may be gone since); anyone else is authorized first,
/// so a record is never read by someone the policies keep out.
#[test]
fn a_recorded_run_is_answered_before_authorization_only_to_its_poster() {
    let server = Server::start();
    let t = Tenant::create(&server, "pro", "acme");
    let other = Tenant::create(&server, "pro", "globex");
    let usage = format!("/v1/orgs/{}/usage", t.org);
    t.grant(&server, 100);
    // The vendor posts the run with its price.
    let first = server
        .post(&usage, t.usage(&run_id(1), Some(5)))
        .expect(201);
    assert_eq!(
        server
            .post(&usage, t.usage(&run_id(1), Some(5)))
            .expect(201),
        first
    );
    // Another org's admin re-sending the same body is refused, not answered.
    let outsider = server.post_as(&other.admin, &usage, t.usage(&run_id(1), Some(5)));
    assert_eq!(outsider.status, 403, "{}", outsider.body);
    assert!(outsider.body.get("run_id").is_none(), "{}", outsider.body);
}
