//! Extreme and malformed dates, durations and amounts: every one is a 4xx
//! naming its field, never a 5xx or a dropped connection.

use serde_json::{json, Value};
use warden_e2e::Server;

fn assert_client_error(answer: &warden_e2e::Answer, what: &str) {
    assert!(
        (400..500).contains(&answer.status),
        "{what}: {} {}",
        answer.status,
        answer.body
    );
    assert!(
        answer.body["error"]["code"].is_string(),
        "{what}: {}",
        answer.body
    );
}

const EXTREME_TIMES: [&str; 8] = [
    "9999-12-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00+23:59",
    "0000-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "9000-01-01T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "not-a-time",
];

#[test]
fn extreme_report_dates_are_400s() {
    let server = Server::start();
    let (org, admin) = server.acme_with_admin();
    for at in EXTREME_TIMES {
        let answer = server.get_as(&admin, &format!("/v1/orgs/{org}/usage/{at}"));
        assert_client_error(&answer, at);
        assert_eq!(answer.body["error"]["field"], "path.at", "{at}");
    }
    // With billing settings the period arithmetic runs on them too.
    let billing = json!({"period_start": "2026-01-01T00:00:00Z", "period_end": "2026-01-31T00:00:00Z", "seat_price_cents": 0});
    server
        .send(
            "PUT",
            &format!("/v1/orgs/{org}/billing"),
            Some(billing.to_string()),
            &[],
        )
        .expect(201);
    for at in EXTREME_TIMES {
        assert_client_error(
            &server.get_as(&admin, &format!("/v1/orgs/{org}/usage/{at}")),
            at,
        );
    }
    server
        .get_as(
            &admin,
            &format!("/v1/orgs/{org}/usage/8999-12-01T00:00:00Z"),
        )
        .expect(200);
}

#[test]
fn extreme_billing_periods_and_amounts_are_400s() {
    let server = Server::start();
    let (org, _) = server.acme_with_admin();
    let path = format!("/v1/orgs/{org}/billing");
    let period = |start: &str, end: &str| json!({"period_start": start, "period_end": end, "seat_price_cents": 100});
    let bodies: Vec<(Value, &str)> = vec![
        (
            period("9999-12-01T00:00:00Z", "9999-12-31T00:00:00Z"),
            "period_start",
        ),
        (
            period("2026-01-01T00:00:00Z", "9999-12-31T00:00:00Z"),
            "period_end",
        ),
        (
            period("1900-01-01T00:00:00Z", "1900-01-31T00:00:00Z"),
            "period_start",
        ),
        (
            period("2026-01-31T00:00:00Z", "2026-01-01T00:00:00Z"),
            "period_end",
        ),
        (
            json!({"period_start": "2026-01-01T00:00:00Z", "period_end": "2026-01-31T00:00:00Z", "seat_price_cents": u64::MAX}),
            "seat_price_cents",
        ),
        (
            json!({"period_start": "2026-01-01T00:00:00Z", "period_end": "2026-01-31T00:00:00Z", "seat_price_cents": -1}),
            "body",
        ),
        (
            json!({"period_start": "2026-01-01T00:00:00Z", "period_end": "2026-01-31T00:00:00Z", "seat_price_cents": 1e30}),
            "body",
        ),
    ];
    for (body, field) in bodies {
        let answer = server.send("PUT", &path, Some(body.to_string()), &[]);
        assert_client_error(&answer, &body.to_string());
        if field != "body" {
            assert_eq!(answer.body["error"]["field"], field, "{body}");
        }
    }
    for body in [
        json!({"credits": 0, "source": "purchase"}),
        json!({"credits": u64::MAX, "source": "purchase"}),
        json!({"credits": 10, "source": "purchase", "expires_at": "9999-12-31T23:59:59Z"}),
        json!({"credits": 10, "source": "purchase", "expires_at": "1970-01-01T00:00:00Z"}),
    ] {
        let answer = server.post(&format!("/v1/orgs/{org}/credits"), body.clone());
        assert_client_error(&answer, &body.to_string());
    }
    assert_eq!(server.get("/healthz").expect(200)["status"], "ok");
}
