//! The vendor's terms are not the tenant's to change: an org's plan, seat
//! limit, billing settings, credit grants, reversals and the price of a run
//! belong to the vendor (the admin token without `X-Warden-Actor`). A
//! tenant's attempt at any of them is a 403 saying whose terms they are,
//! and writes nothing; a deployment may still delegate one by a policy.

use serde_json::{json, Value};
use warden_e2e::Server;

/// An org with its Admin, a Member (joining made them an editor of the
/// default workspace), a flow there, and billing settings and credits the
/// vendor set.
struct Tenant {
    org: String,
    workspace: String,
    flow: String,
    admin: String,
    member: String,
}

/// The billing settings the vendor gives the tenant.
fn vendor_billing() -> Value {
    json!({
        "period_start": "2026-01-01T00:00:00Z", "period_end": "2026-02-01T00:00:00Z",
        "seat_price_cents": 1200, "overage_cap_credits": 10,
    })
}

impl Tenant {
    fn create(server: &Server) -> Tenant {
        let admin = server.user("admin@acme.com");
        let member = server.user("member@acme.com");
        let org = server
            .post(
                "/v1/orgs",
                json!({"name": "Acme", "plan": "pro", "seat_limit": 5, "admin": admin}),
            )
            .expect(201);
        let (org, workspace) = (
            org["id"].as_str().unwrap().to_string(),
            org["default_workspace"].as_str().unwrap().to_string(),
        );
        let tenant = Tenant {
            flow: String::new(),
            org,
            workspace,
            admin,
            member,
        };
        server
            .post_as(
                &tenant.admin,
                &tenant.path("/members"),
                json!({"user": tenant.member, "role": "member"}),
            )
            .expect(201);
        let flow = server
            .post_as(
                &tenant.admin,
                &format!("/v1/workspaces/{}/resources", tenant.workspace),
                json!({"type": "Flow", "attributes": {"name": "Lead scoring"}}),
            )
            .created_id();
        let billing = vendor_billing().to_string();
        server
            .send("PUT", &tenant.path("/billing"), Some(billing), &[])
            .expect(201);
        server
            .post(
                &tenant.path("/credits"),
                json!({"credits": 100, "source": "purchase"}),
            )
            .expect(201);
        Tenant { flow, ..tenant }
    }

    /// `/v1/orgs/{org}` followed by `rest`.
    fn path(&self, rest: &str) -> String {
        format!("/v1/orgs/{}{rest}", self.org)
    }

    /// A usage post of run `run` (a number), naming `credits` if given.
    fn usage(&self, run: u64, credits: Option<u64>) -> Value {
        let run_id = format!("00000000-0000-4000-8000-{run:012x}");
        let mut body =
            json!({"workspace": self.workspace, "flow": self.flow, "run_id": run_id, "steps": 3});
        if let Some(credits) = credits {
            body["credits"] = json!(credits);
        }
        body
    }

    /// Everything a vendor term could change, as the vendor reads it: the
    /// org record, billing settings, balance, usage, ledger entries and the
    /// audit log.
    fn state(&self, server: &Server) -> Value {
        let read = |rest: &str| server.get(&self.path(rest)).expect(200);
        json!({
            "org": read(""),
            "billing": read("/billing"),
            "balance": read("/balance"),
            "usage": read("/usage"),
            "entries": read("/accounts/credits/entries?limit=500"),
            "audit": read("/audit?limit=500"),
        })
    }
}

fn error_message(body: &Value) -> &str {
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    body["error"]["message"].as_str().unwrap()
}

/// A write of the vendor's terms: method, path, body, and what the 403
/// says they are ("vendor's terms" for Cedar actions, "system actor" for
/// the money moves no policy can grant).
struct Attempt {
    what: &'static str,
    method: &'static str,
    path: String,
    body: Value,
    refusal: &'static str,
}

fn attempts(t: &Tenant, transaction: &str) -> Vec<Attempt> {
    let free_seats = json!({
        "period_start": "2026-01-01T00:00:00Z", "period_end": "2026-02-01T00:00:00Z",
        "seat_price_cents": 0,
    });
    let longer_period = json!({
        "period_start": "2026-01-01T00:00:00Z", "period_end": "2026-12-01T00:00:00Z",
        "seat_price_cents": 1200, "overage_cap_credits": 10,
    });
    let bigger_overage = json!({
        "period_start": "2026-01-01T00:00:00Z", "period_end": "2026-02-01T00:00:00Z",
        "seat_price_cents": 1200, "overage_cap_credits": 1_000_000,
    });
    let attempt = |what, method, path: String, body, refusal| Attempt {
        what,
        method,
        path,
        body,
        refusal,
    };
    let terms = "are the vendor's terms";
    let system = "only the system actor";
    vec![
        attempt(
            "plan",
            "PATCH",
            t.path(""),
            json!({"plan": "enterprise"}),
            terms,
        ),
        attempt(
            "seat limit",
            "PATCH",
            t.path(""),
            json!({"seat_limit": 0}),
            terms,
        ),
        attempt(
            "name with plan",
            "PATCH",
            t.path(""),
            json!({"name": "Acme Inc", "plan": "team"}),
            terms,
        ),
        attempt("seat price", "PUT", t.path("/billing"), free_seats, terms),
        attempt(
            "billing period",
            "PUT",
            t.path("/billing"),
            longer_period,
            terms,
        ),
        attempt(
            "overage cap",
            "PUT",
            t.path("/billing"),
            bigger_overage,
            terms,
        ),
        attempt(
            "credit grant",
            "POST",
            t.path("/credits"),
            json!({"credits": 1_000_000, "source": "promotional"}),
            system,
        ),
        attempt(
            "reversal",
            "POST",
            format!("/v1/ledger/transactions/{transaction}/reversal"),
            json!({"reason": "refund"}),
            system,
        ),
        attempt(
            "run price",
            "POST",
            t.path("/usage"),
            t.usage(1, Some(0)),
            terms,
        ),
    ]
}

#[test]
fn an_org_admin_cannot_change_the_vendors_terms_and_nothing_is_written() {
    let server = Server::start();
    let t = Tenant::create(&server);
    let spent = server
        .post(&t.path("/usage"), t.usage(0, Some(30)))
        .expect(201);
    let transaction = spent["transaction"].as_str().unwrap().to_string();
    let before = t.state(&server);
    for attempt in attempts(&t, &transaction) {
        let answer = server
            .send(
                attempt.method,
                &attempt.path,
                Some(attempt.body.to_string()),
                &[("X-Warden-Actor", &t.admin)],
            )
            .expect(403);
        let message = error_message(&answer);
        assert!(
            message.contains(attempt.refusal),
            "{}: {message}",
            attempt.what
        );
        assert_eq!(
            t.state(&server),
            before,
            "{}: something was written",
            attempt.what
        );
    }
    // The same writes from the vendor go through: the refusals were the actor's.
    for attempt in attempts(&t, &transaction) {
        let answer = server.send(
            attempt.method,
            &attempt.path,
            Some(attempt.body.to_string()),
            &[],
        );
        assert!(
            answer.status < 300,
            "{}: the vendor was refused: {answer:?}",
            attempt.what
        );
    }
}

#[test]
fn a_tenant_admin_changes_the_tenants_settings_but_no_body_naming_a_vendor_term() {
    let server = Server::start();
    let t = Tenant::create(&server);
    let tenant_fields = [
        ("name", json!("Acme Inc")),
        ("autojoin_role", json!("guest_internal")),
        ("invitation_mode", json!("on_invite")),
    ];
    let vendor_fields = [("plan", json!("team")), ("seat_limit", json!(50))];
    let fields: Vec<_> = tenant_fields.iter().chain(&vendor_fields).collect();
    // Every non-empty combination of the fields.
    for subset in 1..(1u32 << fields.len()) {
        let chosen: Vec<_> = (0..fields.len())
            .filter(|i| subset & (1 << i) != 0)
            .map(|i| fields[i])
            .collect();
        let body: serde_json::Map<String, Value> = chosen
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect();
        let names_a_term = chosen.iter().any(|field| vendor_fields.contains(field));
        let before = server.get(&t.path("")).expect(200);
        let answer = server.call(Some(&t.admin), "PATCH", &t.path(""), Some(json!(body)));
        if names_a_term {
            let message = error_message(&answer.body).to_string();
            assert_eq!(answer.status, 403, "{body:?}");
            assert!(message.contains("ManagePlan"), "{body:?}: {message}");
            assert_eq!(server.get(&t.path("")).expect(200), before, "{body:?}");
        } else {
            let org = answer.expect(200);
            for (name, value) in &chosen {
                assert_eq!(&org[*name], value, "{body:?}");
            }
        }
    }
}

#[test]
fn a_member_records_runs_the_usage_pricing_hook_prices() {
    let server = Server::start_with_plugins(&["plugins/usage-pricing"]);
    let manifest = server.plugins_dir().join("usage-pricing/plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("# credits_per_step = 10", "credits_per_step = 10"),
    )
    .unwrap();
    server.post("/v1/plugins/reload", json!({})).expect(200);
    let t = Tenant::create(&server);
    let usage = t.path("/usage");

    // A Member (or an Admin) who names the price is refused, whatever it is.
    for (actor, credits) in [(&t.member, 0), (&t.member, 1_000), (&t.admin, 1)] {
        let before = t.state(&server);
        let refused = server
            .post_as(actor, &usage, t.usage(1, Some(credits)))
            .expect(403);
        let message = error_message(&refused);
        assert!(message.contains("PriceUsage"), "{message}");
        assert!(message.contains("the credits of a run"), "{message}");
        assert_eq!(t.state(&server), before, "a refused run wrote");
    }

    // Without credits the hook prices the run: 3 steps × 10 credits.
    let priced = server
        .post_as(&t.member, &usage, t.usage(1, None))
        .expect(201);
    assert_eq!(priced["credits"], 30, "{priced}");
    assert_eq!(priced["priced_by"]["plugin"], "usage-pricing", "{priced}");
    assert_eq!(priced["balance_after"], 70, "{priced}");

    // The vendor still names the price.
    let named = server.post(&usage, t.usage(2, Some(5))).expect(201);
    assert_eq!(
        (named["credits"].clone(), named["priced_by"].clone()),
        (json!(5), Value::Null)
    );
}

#[test]
fn a_deployment_may_delegate_a_vendor_term_by_policy() {
    let server = Server::start();
    let t = Tenant::create(&server);
    server
        .call(
            Some(&t.admin),
            "PATCH",
            &t.path(""),
            Some(json!({"plan": "team"})),
        )
        .expect(403);
    let delegation = r#"
@id("admins-manage-plan")
@reason("Admins of this deployment choose their own plan")
permit (principal, action == Action::"ManagePlan", resource is Org)
when { principal in resource.admins };
"#;
    std::fs::write(server.policies_dir().join("delegation.cedar"), delegation).unwrap();
    server.post("/v1/policies/reload", json!({})).expect(200);
    let org = server
        .call(
            Some(&t.admin),
            "PATCH",
            &t.path(""),
            Some(json!({"plan": "team"})),
        )
        .expect(200);
    assert_eq!(org["plan"], "team");
    // Only what was delegated: billing stays the vendor's.
    let billing = vendor_billing().to_string();
    server
        .send(
            "PUT",
            &t.path("/billing"),
            Some(billing),
            &[("X-Warden-Actor", &t.admin)],
        )
        .expect(403);
}
