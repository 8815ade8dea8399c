//! Seat billing on the real server with the real seat-billing plugin: a
//! member beyond the seat limit of a paid plan is charged pro rata when they
//! join (added by an admin or auto-joined at sign-up), once per period, and
//! concurrent joins at the limit charge exactly the seats beyond it.

use serde_json::{json, Value};
use warden_e2e::Server;

const PLUGINS: [&str; 2] = ["plugins/seat-billing", "plugins/domain-autojoin"];
const SEAT_PRICE_CENTS: u64 = 3_000;

struct Org {
    id: String,
    admin: String,
}

/// A pro org with `seat_limit` seats (its admin takes one), verifying
/// acme.com, with 30-day billing periods at [`SEAT_PRICE_CENTS`].
fn org(server: &Server, seat_limit: u32) -> Org {
    let admin = server.user("root@acme.com");
    let id = server
        .post(
            "/v1/orgs",
            json!({"name": "Acme", "plan": "pro", "seat_limit": seat_limit, "verified_domains": ["acme.com"], "admin": admin}),
        )
        .created_id();
    let billing = json!({
        "period_start": "2026-01-01T00:00:00Z",
        "period_end": "2026-01-31T00:00:00Z",
        "seat_price_cents": SEAT_PRICE_CENTS,
    });
    let path = format!("/v1/orgs/{id}/billing");
    server
        .send("PUT", &path, Some(billing.to_string()), &[])
        .expect(201);
    Org { id, admin }
}

fn add_member(server: &Server, org: &Org, email: &str, role: &str) -> Value {
    let user = server.user(email);
    server
        .post_as(
            &org.admin,
            &format!("/v1/orgs/{}/members", org.id),
            json!({"user": user, "role": role}),
        )
        .expect(201)
}

fn seat_charges(server: &Server, org: &Org) -> Vec<Value> {
    let page = server
        .get_as(
            &org.admin,
            &format!("/v1/orgs/{}/seat-charges?limit=500", org.id),
        )
        .expect(200);
    page["items"].as_array().unwrap().clone()
}

fn unix_seconds(rfc3339: &Value) -> i64 {
    // Unix seconds of an RFC 3339 UTC time (the server writes `Z` times).
    let text = rfc3339.as_str().unwrap();
    let (date, time) = text.split_once('T').unwrap();
    let mut parts = date.split('-').map(|p| p.parse::<i64>().unwrap());
    let (y, m, d) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let hms: Vec<f64> = time
        .trim_end_matches('Z')
        .split(':')
        .map(|p| p.parse().unwrap())
        .collect();
    days_from_civil(y, m, d) * 86_400 + (hms[0] * 3600.0 + hms[1] * 60.0 + hms[2]) as i64
}

/// Howard Hinnant's days-from-civil: days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[test]
fn a_member_beyond_the_seat_limit_is_charged_pro_rata_once() {
    let server = Server::start_with_plugins(&PLUGINS);
    let org = org(&server, 2);
    add_member(&server, &org, "within@acme.com", "member");
    assert!(
        seat_charges(&server, &org).is_empty(),
        "the second seat is within the limit"
    );
    add_member(&server, &org, "guest@partner.example", "guest_external");
    assert!(
        seat_charges(&server, &org).is_empty(),
        "external guests take no seat"
    );

    let beyond = add_member(&server, &org, "beyond@acme.com", "guest_internal");
    let charges = seat_charges(&server, &org);
    assert_eq!(charges.len(), 1, "{charges:?}");
    let charge = &charges[0];
    assert_eq!(charge["user"], beyond["user"]);
    assert_eq!(charge["priced_by"]["plugin"], "seat-billing");
    let (start, end, at) = (
        unix_seconds(&charge["period"]["start"]),
        unix_seconds(&charge["period"]["end"]),
        unix_seconds(&charge["at"]),
    );
    let expected = SEAT_PRICE_CENTS as f64 * (end - at) as f64 / (end - start) as f64;
    let amount = charge["amount_cents"].as_u64().unwrap();
    assert!(
        (amount as f64 - expected).abs() <= 2.0,
        "{amount} cents, expected about {expected}"
    );
    assert!(amount > 0 && amount <= SEAT_PRICE_CENTS);

    // The membership's audit record keeps the plugin's answer.
    let audit = server
        .get(&format!("/v1/orgs/{}/audit", org.id))
        .expect(200);
    let records = audit
        .get("items")
        .unwrap_or(&audit)
        .as_array()
        .unwrap()
        .clone();
    let priced = records
        .iter()
        .find(|r| r["action"] == "InviteMember" && r.get("plugins").is_some())
        .expect("priced record");
    assert_eq!(priced["plugins"][0]["hook"], "seat-billing");

    let verify = server.get("/v1/ledger/verify").expect(200);
    assert_eq!(verify["violation_count"], 0, "{verify}");
}

#[test]
fn auto_joining_beyond_the_seat_limit_is_charged_too() {
    let server = Server::start_with_plugins(&PLUGINS);
    let org = org(&server, 1);
    let ann = server
        .post("/v1/signup", json!({"email": "ann@acme.com"}))
        .expect(201);
    assert_eq!(ann["joined"]["org"], json!(org.id));
    let charges = seat_charges(&server, &org);
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0]["user"], ann["user"]["id"]);
}

#[test]
fn concurrent_joins_at_the_limit_charge_exactly_the_seats_beyond_it() {
    const JOINS: usize = 64;
    const SEAT_LIMIT: usize = 11;
    let server = Server::start_with_plugins(&PLUGINS);
    let org = org(&server, SEAT_LIMIT as u32);
    let users: Vec<String> = (0..JOINS)
        .map(|i| server.user(&format!("u{i}@acme.com")))
        .collect();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = users
            .iter()
            .map(|user| {
                let (server, org) = (&server, &org);
                scope.spawn(move || {
                    let path = format!("/v1/orgs/{}/members", org.id);
                    server
                        .post_as(&org.admin, &path, json!({"user": user, "role": "member"}))
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    // The admin holds one seat: seats 2..=11 are free, the other 54 are charged.
    let charges = seat_charges(&server, &org);
    assert_eq!(charges.len(), JOINS + 1 - SEAT_LIMIT);
    let org_now = server.get(&format!("/v1/orgs/{}", org.id)).expect(200);
    assert_eq!(org_now["seats_used"], JOINS + 1);
    assert_eq!(
        server.get("/v1/ledger/verify").expect(200)["violation_count"],
        0
    );
}

#[test]
fn accepting_an_invitation_or_leaving_external_guest_takes_a_charged_seat_once() {
    let server = Server::start_with_plugins(&PLUGINS);
    let org = org(&server, 1);
    let bob = server.user("bob@acme.com");
    let invitation = server
        .post_as(
            &org.admin,
            &format!("/v1/orgs/{}/invitations", org.id),
            json!({"email": "bob@acme.com", "role": "member"}),
        )
        .created_id();
    let accept = format!("/v1/orgs/{}/invitations/{invitation}/accept", org.id);
    server.post_as(&bob, &accept, json!({})).expect(200);
    assert_eq!(seat_charges(&server, &org).len(), 1);

    let guest = add_member(&server, &org, "guest@partner.example", "guest_external");
    let guest = guest["user"].as_str().unwrap();
    assert_eq!(
        seat_charges(&server, &org).len(),
        1,
        "external guests take no seat"
    );
    let role = format!("/v1/orgs/{}/members/{guest}", org.id);
    let change = |role_name: &str| {
        let body = json!({ "role": role_name }).to_string();
        server
            .send(
                "PATCH",
                &role,
                Some(body),
                &[("X-Warden-Actor", &org.admin)],
            )
            .expect(200);
    };
    change("guest_internal");
    assert_eq!(
        seat_charges(&server, &org).len(),
        2,
        "an internal guest takes a seat"
    );
    // Back and forth within the period: the seat was paid for already.
    change("guest_external");
    change("member");
    assert_eq!(seat_charges(&server, &org).len(), 2);
    assert_eq!(
        server.get("/v1/ledger/verify").expect(200)["violation_count"],
        0
    );
}
