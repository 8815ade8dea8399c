//! Idempotency-Key replays always replay: every write route, retried with
//! its key, answers its first answer — right away, after its target is gone
//! (a deleted resource, workspace, member or domain; a usage post's flow),
//! and after a SIGKILL and restart — and writes nothing. A write killed in
//! flight and retried with its key takes effect once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use warden_e2e::{Answer, Server, TOKEN};

/// A write sent once with its own `Idempotency-Key`, and its first answer.
struct Sent {
    actor: Option<String>,
    method: &'static str,
    path: String,
    body: Option<Value>,
    key: String,
    status: u16,
    answer: Value,
}

/// Sends writes with fresh keys, checks that each retry answers the same,
/// and keeps them to retry later.
#[derive(Default)]
struct Writes {
    sent: Vec<Sent>,
}

impl Writes {
    /// Sends a write with a new key, expects a 2xx, retries it at once and
    /// expects the same answer; returns the answer.
    #[track_caller]
    fn send(
        &mut self,
        server: &Server,
        actor: Option<&str>,
        method: &'static str,
        path: String,
        body: Option<Value>,
    ) -> Value {
        let key = format!("replay-{}", self.sent.len());
        let first = send_keyed(server, actor, method, &path, body.as_ref(), &key);
        assert!(first.status < 300, "{method} {path}: {first:?}");
        let sent = Sent {
            actor: actor.map(str::to_owned),
            method,
            path,
            body,
            key,
            status: first.status,
            answer: first.body.clone(),
        };
        sent.assert_replayed(server);
        self.sent.push(sent);
        first.body
    }

    /// Retries every write sent so far: each answers its first answer.
    #[track_caller]
    fn assert_all_replayed(&self, server: &Server) {
        for sent in &self.sent {
            sent.assert_replayed(server);
        }
    }
}

impl Sent {
    #[track_caller]
    fn assert_replayed(&self, server: &Server) {
        let again = send_keyed(
            server,
            self.actor.as_deref(),
            self.method,
            &self.path,
            self.body.as_ref(),
            &self.key,
        );
        assert_eq!(
            (again.status, &again.body),
            (self.status, &self.answer),
            "{} {} retried with {}",
            self.method,
            self.path,
            self.key
        );
    }
}

fn send_keyed(
    server: &Server,
    actor: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
    key: &str,
) -> Answer {
    let mut headers = vec![("Idempotency-Key", key)];
    headers.extend(actor.map(|actor| ("X-Warden-Actor", actor)));
    server.send(method, path, body.map(Value::to_string), &headers)
}

fn id(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_string()
}

fn audit_len(server: &Server, org: &str) -> usize {
    let page = server
        .get(&format!("/v1/orgs/{org}/audit?limit=500"))
        .expect(200);
    page["items"].as_array().unwrap().len()
}

#[test]
fn every_write_route_replays_its_first_answer_even_after_its_target_is_gone_and_a_restart() {
    let mut server = Server::start();
    let mut w = Writes::default();
    let users = "/v1/users".to_string();
    let admin = id(&w.send(
        &server,
        None,
        "POST",
        users.clone(),
        Some(json!({"email": "admin@acme.com"})),
    ));
    let carol = id(&w.send(
        &server,
        None,
        "POST",
        users.clone(),
        Some(json!({"email": "carol@acme.com"})),
    ));
    let dan = id(&w.send(
        &server,
        None,
        "POST",
        users,
        Some(json!({"email": "dan@acme.com"})),
    ));
    w.send(
        &server,
        None,
        "POST",
        "/v1/signup".into(),
        Some(json!({"email": "eve@acme.com"})),
    );
    let org = w.send(
        &server,
        None,
        "POST",
        "/v1/orgs".into(),
        Some(json!({"name": "Acme", "plan": "pro", "admin": admin})),
    );
    let (default_ws, org) = (
        org["default_workspace"].as_str().unwrap().to_string(),
        id(&org),
    );
    let a = Some(admin.as_str());
    let o = format!("/v1/orgs/{org}");

    // The org, its members and invitations.
    w.send(
        &server,
        a,
        "PATCH",
        o.clone(),
        Some(json!({"name": "Acme Inc"})),
    );
    w.send(
        &server,
        a,
        "POST",
        format!("{o}/members"),
        Some(json!({"user": carol, "role": "member"})),
    );
    w.send(
        &server,
        a,
        "PATCH",
        format!("{o}/members/{carol}"),
        Some(json!({"role": "admin"})),
    );
    let invited = id(&w.send(
        &server,
        a,
        "POST",
        format!("{o}/invitations"),
        Some(json!({"email": "dan@acme.com", "role": "member"})),
    ));
    w.send(
        &server,
        a,
        "POST",
        format!("{o}/invitations/{invited}/resend"),
        None,
    );
    w.send(
        &server,
        Some(&dan),
        "POST",
        format!("{o}/invitations/{invited}/accept"),
        None,
    );
    let revoked = id(&w.send(
        &server,
        a,
        "POST",
        format!("{o}/invitations"),
        Some(json!({"email": "zed@acme.com", "role": "member"})),
    ));
    w.send(
        &server,
        a,
        "POST",
        format!("{o}/invitations/{revoked}/revoke"),
        None,
    );

    // Workspaces, their members and access requests.
    let research = id(&w.send(
        &server,
        a,
        "POST",
        format!("{o}/workspaces"),
        Some(json!({"name": "Research"})),
    ));
    let doomed = id(&w.send(
        &server,
        a,
        "POST",
        format!("{o}/workspaces"),
        Some(json!({"name": "Doomed"})),
    ));
    w.send(
        &server,
        a,
        "PUT",
        format!("{o}/default-workspace"),
        Some(json!({"workspace": research})),
    );
    let ws = format!("/v1/workspaces/{research}");
    w.send(
        &server,
        a,
        "PATCH",
        ws.clone(),
        Some(json!({"name": "R&D"})),
    );
    w.send(
        &server,
        a,
        "POST",
        format!("{ws}/members"),
        Some(json!({"user": dan, "role": "viewer"})),
    );
    w.send(
        &server,
        a,
        "PATCH",
        format!("{ws}/members/{dan}"),
        Some(json!({"role": "editor"})),
    );
    w.send(&server, a, "DELETE", format!("{ws}/members/{dan}"), None);
    let requests = format!("{ws}/access-requests");
    let asked = id(&w.send(
        &server,
        Some(&dan),
        "POST",
        requests.clone(),
        Some(json!({})),
    ));
    w.send(
        &server,
        a,
        "POST",
        format!("{requests}/{asked}/approve"),
        Some(json!({"role": "viewer"})),
    );
    let requests = format!("/v1/workspaces/{doomed}/access-requests");
    let asked = id(&w.send(
        &server,
        Some(&dan),
        "POST",
        requests.clone(),
        Some(json!({})),
    ));
    w.send(&server, a, "POST", format!("{requests}/{asked}/deny"), None);

    // Resources.
    let resources = format!("/v1/workspaces/{default_ws}/resources");
    let flow = id(&w.send(
        &server,
        a,
        "POST",
        resources.clone(),
        Some(json!({"type": "Flow"})),
    ));
    let moved = id(&w.send(&server, a, "POST", resources, Some(json!({"type": "Flow"}))));
    w.send(
        &server,
        a,
        "POST",
        format!("/v1/resources/{moved}/move"),
        Some(json!({"workspace": research})),
    );

    // The ledger, as the vendor.
    let grant = w.send(
        &server,
        None,
        "POST",
        format!("{o}/credits"),
        Some(json!({"credits": 100, "source": "monthly_allowance"})),
    );
    let transaction = grant["transaction"].as_str().unwrap().to_string();
    w.send(
        &server,
        None,
        "POST",
        format!("/v1/ledger/transactions/{transaction}/reversal"),
        Some(json!({"reason": "refund"})),
    );
    w.send(
        &server,
        None,
        "POST",
        format!("{o}/credits"),
        Some(json!({"credits": 100, "source": "monthly_allowance"})),
    );
    let run = json!({"workspace": default_ws, "flow": flow,
                     "run_id": "00000000-0000-4000-8000-000000000001", "credits": 3});
    let usage = w.send(
        &server,
        None,
        "POST",
        format!("{o}/usage"),
        Some(run.clone()),
    );
    w.send(
        &server,
        None,
        "PUT",
        format!("{o}/billing"),
        Some(
            json!({"period_start": "2026-01-01T00:00:00Z", "period_end": "2026-02-01T00:00:00Z",
                    "seat_price_cents": 1200, "overage_cap_credits": 0}),
        ),
    );

    // Domains.
    w.send(
        &server,
        a,
        "POST",
        format!("{o}/domains"),
        Some(json!({"domain": "acme.io"})),
    );
    w.send(
        &server,
        None,
        "POST",
        format!("{o}/domains/acme.io/verify"),
        Some(json!({"method": "vendor"})),
    );

    // Deletions: each retried at once above, with its target already gone.
    w.send(&server, a, "DELETE", format!("{o}/domains/acme.io"), None);
    w.send(&server, a, "DELETE", format!("{o}/members/{carol}"), None);
    w.send(
        &server,
        a,
        "DELETE",
        format!("/v1/workspaces/{doomed}"),
        None,
    );
    w.send(&server, a, "DELETE", format!("/v1/resources/{flow}"), None);
    server.get(&format!("/v1/resources/{flow}")).expect(404);
    server.get(&format!("/v1/workspaces/{doomed}")).expect(404);

    // The flow is gone: the run is answered by its run id all the same,
    // with or without its key, before the flow is authorized.
    let again = server.post(&format!("{o}/usage"), run.clone());
    assert_eq!((again.status, &again.body), (201, &usage));
    let mut other = run;
    other["credits"] = json!(4);
    let conflict = server.post(&format!("{o}/usage"), other);
    assert_ne!(conflict.status, 201, "{conflict:?}");

    // Every write, retried once more and after a SIGKILL, answers its first
    // answer and writes nothing.
    let audit = audit_len(&server, &org);
    w.assert_all_replayed(&server);
    server.restart();
    w.assert_all_replayed(&server);
    assert_eq!(audit_len(&server, &org), audit, "a retry wrote");
    let balance = server.get(&format!("{o}/balance")).expect(200);
    assert_eq!(balance["credits"], 97, "{balance}");
}

/// How many times the in-flight test kills the server.
const KILLS: usize = 6;

/// Grants 1 credit per key until the server stops answering; returns the
/// keys sent (answered or not) with the answers received.
fn grant_until_killed(
    url: &str,
    org: &str,
    round: usize,
    stop: &AtomicBool,
) -> Vec<(String, Option<Value>)> {
    let mut sent = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let key = format!("grant-{round}-{n}");
        let answer = ureq::post(&format!("{url}/v1/orgs/{org}/credits"))
            .timeout(Duration::from_secs(10))
            .set("Authorization", &format!("Bearer {TOKEN}"))
            .set("Idempotency-Key", &key)
            .send_json(json!({"credits": 1, "source": "purchase"}));
        match answer {
            Ok(response) => {
                assert_eq!(response.status(), 201);
                sent.push((key, Some(response.into_json::<Value>().unwrap())));
            }
            Err(ureq::Error::Status(status, response)) => {
                panic!(
                    "grant answered {status}: {}",
                    response.into_string().unwrap_or_default()
                )
            }
            Err(_) => {
                // Killed with the request in flight: it may have committed.
                sent.push((key, None));
                break;
            }
        }
    }
    sent
}

#[test]
fn a_write_killed_in_flight_and_retried_with_its_key_takes_effect_once() {
    let mut server = Server::start();
    let (org, _) = server.acme_with_admin();
    let sent = Mutex::new(Vec::new());
    for round in 0..KILLS {
        let stop = AtomicBool::new(false);
        let url = server.url.clone();
        std::thread::scope(|scope| {
            let client = scope.spawn(|| grant_until_killed(&url, &org, round, &stop));
            std::thread::sleep(Duration::from_millis(150 + 70 * round as u64));
            server.stop();
            stop.store(true, Ordering::Relaxed);
            sent.lock().unwrap().extend(client.join().unwrap());
        });
        server.restart();
    }
    let sent = sent.into_inner().unwrap();
    assert!(sent.iter().filter(|(_, answer)| answer.is_some()).count() > KILLS);
    // Retried: an answered grant answers the same; one killed in flight
    // answers its first answer if it committed, else runs now.
    let mut transactions = std::collections::HashSet::new();
    for (key, first) in &sent {
        let retried = server
            .send(
                "POST",
                &format!("/v1/orgs/{org}/credits"),
                Some(json!({"credits": 1, "source": "purchase"}).to_string()),
                &[("Idempotency-Key", key)],
            )
            .expect(201);
        if let Some(first) = first {
            assert_eq!(&retried, first, "{key}");
        }
        assert!(
            transactions.insert(retried["transaction"].clone()),
            "{key}: {retried}"
        );
    }
    // Each key took effect exactly once.
    let balance = server.get(&format!("/v1/orgs/{org}/balance")).expect(200);
    assert_eq!(balance["credits"], sent.len(), "{balance}");
    server.stop();
    server.assert_store_consistent();
}
