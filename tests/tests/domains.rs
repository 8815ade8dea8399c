//! Email domains through the real server: an Admin claims a domain, proves
//! it with a DNS TXT record that Warden looks up through a DNS server this
//! test runs on loopback (or the vendor confirms it), and a domain belongs
//! to at most one org, so no other org ever captures its sign-ups.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use warden_e2e::Server;

/// A DNS server on loopback that answers TXT questions from a table
/// (NXDOMAIN for names it has no records for).
struct DnsServer {
    addr: SocketAddr,
    records: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl DnsServer {
    fn start() -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback UDP port");
        let addr = socket.local_addr().unwrap();
        let records = Arc::new(Mutex::new(HashMap::new()));
        let table = Arc::clone(&records);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 1500];
            while let Ok((len, from)) = socket.recv_from(&mut buffer) {
                if let Some(answer) = answer(&buffer[..len], &table.lock().unwrap()) {
                    let _ = socket.send_to(&answer, from);
                }
            }
        });
        DnsServer { addr, records }
    }

    /// Adds a TXT record.
    fn publish(&self, name: &str, value: &str) {
        let mut records = self.records.lock().unwrap();
        records
            .entry(name.to_string())
            .or_default()
            .push(value.to_string());
    }
}

/// The answer to one query: its question echoed, the TXT records of the
/// name asked for.
fn answer(query: &[u8], records: &HashMap<String, Vec<String>>) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_lowercase());
        at += len;
    }
    let question_end = at + 4;
    let found = records.get(&labels.join(".")).cloned().unwrap_or_default();
    let mut packet = query.get(..question_end)?.to_vec();
    packet[2] = 0x81; // response, recursion desired
    packet[3] = if found.is_empty() { 0x83 } else { 0x80 }; // NXDOMAIN or OK
    packet[6..8].copy_from_slice(&(found.len() as u16).to_be_bytes());
    packet[8..12].copy_from_slice(&[0, 0, 0, 0]);
    for value in found {
        packet.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
        packet.extend_from_slice(&((value.len() + 1) as u16).to_be_bytes());
        packet.push(value.len() as u8);
        packet.extend_from_slice(value.as_bytes());
    }
    Some(packet)
}

/// Starts Warden with `resolver` as its DNS resolver.
fn warden(resolver: SocketAddr) -> Server {
    Server::start_with(&["--dns-resolver", &resolver.to_string()])
}

/// An org created by the vendor with an Admin; returns (org, admin).
fn org_with_admin(server: &Server, name: &str, email: &str, domains: &[&str]) -> (String, String) {
    let admin = server.user(email);
    let org = server
        .post(
            "/v1/orgs",
            json!({"name": name, "plan": "pro", "verified_domains": domains, "admin": admin}),
        )
        .created_id();
    (org, admin)
}

fn claim(server: &Server, actor: &str, org: &str, domain: &str) -> (u16, Value) {
    let answer = server.post_as(
        actor,
        &format!("/v1/orgs/{org}/domains"),
        json!({ "domain": domain }),
    );
    (answer.status, answer.body)
}

fn verify(
    server: &Server,
    actor: Option<&str>,
    org: &str,
    domain: &str,
    body: Value,
) -> (u16, Value) {
    let path = format!("/v1/orgs/{org}/domains/{domain}/verify");
    let answer = server.call(actor, "POST", &path, Some(body));
    (answer.status, answer.body)
}

/// The org a sign-up of `email` joined (null: none).
fn signup_joins(server: &Server, email: &str) -> Value {
    let answer = server.post("/v1/signup", json!({ "email": email }));
    assert!(matches!(answer.status, 200 | 201), "{}", answer.body);
    answer.body["joined"]["org"].clone()
}

#[test]
fn a_claim_is_verified_only_by_its_txt_record() {
    let dns = DnsServer::start();
    let server = warden(dns.addr);
    let (acme, admin) = org_with_admin(&server, "Acme", "root@acme-corp.example", &[]);
    let member = server.user("mia@acme-corp.example");
    server
        .post(
            &format!("/v1/orgs/{acme}/members"),
            json!({"user": member, "role": "member"}),
        )
        .expect(201);

    // Only those who may change the org's settings claim, list or verify.
    let (status, _) = claim(&server, &member, &acme, "acme.com");
    assert_eq!(status, 403);
    server
        .get_as(&member, &format!("/v1/orgs/{acme}/domains"))
        .expect(403);

    let (status, pending) = claim(&server, &admin, &acme, " Acme.COM. ");
    assert_eq!(status, 201, "{pending}");
    assert_eq!(pending["domain"], "acme.com");
    assert_eq!(pending["state"], "pending");
    assert_eq!(pending["txt_record"]["name"], "_warden-challenge.acme.com");
    let value = pending["txt_record"]["value"].as_str().unwrap().to_string();
    assert!(value.starts_with("warden-verification="), "{pending}");
    let (status, again) = claim(&server, &admin, &acme, "acme.com");
    assert_eq!(
        (status, &again["error"]["code"]),
        (409, &json!("domain_already_claimed"))
    );

    // A pending claim lets nobody in.
    assert_eq!(signup_joins(&server, "ann@acme.com"), Value::Null);
    let (status, error) = verify(&server, Some(&admin), &acme, "acme.com", json!({}));
    assert_eq!(
        (status, &error["error"]["code"]),
        (409, &json!("domain_not_proven")),
        "{error}"
    );
    dns.publish(
        "_warden-challenge.acme.com",
        "warden-verification=someone-elses-token",
    );
    dns.publish("_warden-challenge.acme.com", "v=spf1 -all");
    let (status, error) = verify(
        &server,
        Some(&admin),
        &acme,
        "acme.com",
        json!({"method": "dns"}),
    );
    assert_eq!(
        (status, &error["error"]["code"]),
        (409, &json!("domain_not_proven")),
        "{error}"
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("someone-elses-token"),
        "{error}"
    );
    assert_eq!(signup_joins(&server, "ann@acme.com"), Value::Null);

    dns.publish("_warden-challenge.acme.com", &value);
    let (status, verified) = verify(&server, Some(&admin), &acme, "ACME.com", json!({}));
    assert_eq!(status, 200, "{verified}");
    assert_eq!(
        (&verified["state"], &verified["verified_by"]),
        (&json!("verified"), &json!("dns"))
    );
    let org = server.get(&format!("/v1/orgs/{acme}")).expect(200);
    assert_eq!(org["verified_domains"], json!(["acme.com"]));
    let audit = server.get(&format!("/v1/orgs/{acme}/audit")).expect(200);
    let record = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "VerifyDomain")
        .expect("the verification is audited")
        .clone();
    assert_eq!(
        record["details"]["lookup"]["resolver"],
        dns.addr.to_string()
    );
    assert_eq!(record["details"]["lookup"]["expected"], value.as_str());
    assert_eq!(
        record["details"]["lookup"]["found"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Now (and only now) the domain's users auto-join.
    assert_eq!(signup_joins(&server, "bob@acme.com"), json!(acme));
    let listed = server
        .get_as(&admin, &format!("/v1/orgs/{acme}/domains"))
        .expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    // Withdrawing the claim stops auto-join.
    server
        .call(
            Some(&admin),
            "DELETE",
            &format!("/v1/orgs/{acme}/domains/acme.com"),
            None,
        )
        .expect(200);
    assert_eq!(signup_joins(&server, "cy@acme.com"), Value::Null);
    let org = server.get(&format!("/v1/orgs/{acme}")).expect(200);
    assert_eq!(org["verified_domains"], json!([]));

    // Bad domains are refused before anything is written, saying why.
    for (domain, reason) in [
        ("gmail.com", "free-mail"),
        ("\u{0430}cme.com", "mixes Cyrillic and Latin"),
        ("acme\u{200B}.com", "U+200B"),
        ("localhost", "not a domain name"),
    ] {
        let (status, error) = claim(&server, &admin, &acme, domain);
        assert_eq!(status, 400, "{domain:?}: {error}");
        assert_eq!(error["error"]["field"], "domain");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(reason),
            "{error}"
        );
    }
    drop(server);
}

#[test]
fn a_second_org_never_captures_a_domain_it_does_not_own() {
    let dns = DnsServer::start();
    let mut server = warden(dns.addr);
    let (acme, acme_admin) = org_with_admin(&server, "Acme", "root@acme-corp.example", &[]);
    // Several orgs want the domain; whichever id sorts first must not matter.
    let rivals: Vec<(String, String)> = (0..4)
        .map(|i| {
            org_with_admin(
                &server,
                &format!("Rival {i}"),
                &format!("boss{i}@rival.example"),
                &[],
            )
        })
        .collect();

    let mut rival_claims = Vec::new();
    for (org, admin) in &rivals {
        let (status, claimed) = claim(&server, admin, org, "shared.example");
        assert_eq!(status, 201, "{claimed}");
        rival_claims.push(claimed);
        // Without proof a claim stays pending, and tenants cannot confirm it
        // for themselves.
        let (status, _) = verify(&server, Some(admin), org, "shared.example", json!({}));
        assert_eq!(status, 409);
        let (status, _) = verify(
            &server,
            Some(admin),
            org,
            "shared.example",
            json!({"method": "vendor"}),
        );
        assert_eq!(status, 403);
        // Nor set it on the org directly.
        let bad = server
            .call(
                Some(admin),
                "PATCH",
                &format!("/v1/orgs/{org}"),
                Some(json!({"verified_domains": ["shared.example"]})),
            )
            .expect(400);
        assert_eq!(bad["error"]["field"], "verified_domains", "{bad}");
    }
    assert_eq!(signup_joins(&server, "eve@shared.example"), Value::Null);

    let (_, acme_claim) = claim(&server, &acme_admin, &acme, "shared.example");
    dns.publish(
        "_warden-challenge.shared.example",
        acme_claim["txt_record"]["value"].as_str().unwrap(),
    );
    let (status, verified) = verify(
        &server,
        Some(&acme_admin),
        &acme,
        "shared.example",
        json!({}),
    );
    assert_eq!(status, 200, "{verified}");

    // Even with its own record published, a rival cannot take the domain:
    // one org holds it.
    for ((org, admin), claimed) in rivals.iter().zip(&rival_claims) {
        dns.publish(
            "_warden-challenge.shared.example",
            claimed["txt_record"]["value"].as_str().unwrap(),
        );
        let (status, error) = verify(&server, Some(admin), org, "shared.example", json!({}));
        assert_eq!(
            (status, &error["error"]["code"]),
            (409, &json!("domain_taken")),
            "{error}"
        );
        assert!(
            !error.to_string().contains(&acme),
            "the holder's id leaked: {error}"
        );
        let (status, error) = verify(
            &server,
            None,
            org,
            "shared.example",
            json!({"method": "vendor"}),
        );
        assert_eq!(
            (status, &error["error"]["code"]),
            (409, &json!("domain_taken"))
        );
        let (status, error) = claim(&server, admin, org, "Shared.Example.");
        assert_eq!(
            (status, &error["error"]["code"]),
            (409, &json!("domain_already_claimed"))
        );
    }
    // The vendor cannot hand it to a second org at creation either.
    let taken = server
        .post(
            "/v1/orgs",
            json!({"name": "Late", "plan": "pro", "verified_domains": ["shared.example"]}),
        )
        .expect(409);
    assert_eq!(taken["error"]["code"], "domain_taken");

    for i in 0..8 {
        assert_eq!(
            signup_joins(&server, &format!("new{i}@shared.example")),
            json!(acme)
        );
    }
    for (org, _) in &rivals {
        let members = server.get(&format!("/v1/orgs/{org}/members")).expect(200);
        assert_eq!(members["items"].as_array().unwrap().len(), 1, "{members}");
    }

    // The vendor settles a dispute: it removes Acme's claim, and the rival
    // whose record is published can now prove it.
    server
        .call(
            None,
            "DELETE",
            &format!("/v1/orgs/{acme}/domains/shared.example"),
            None,
        )
        .expect(200);
    let (rival, rival_admin) = &rivals[2];
    let (status, verified) = verify(
        &server,
        Some(rival_admin),
        rival,
        "shared.example",
        json!({}),
    );
    assert_eq!(status, 200, "{verified}");
    assert_eq!(signup_joins(&server, "later@shared.example"), json!(rival));

    server.stop();
    server.assert_store_consistent();
    server.restart();
    assert_eq!(
        signup_joins(&server, "after-restart@shared.example"),
        json!(rival)
    );
}

#[test]
fn the_vendor_confirms_without_dns_and_dns_failures_are_409s() {
    // A resolver port with nothing behind it.
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = warden(closed);
    let (acme, admin) = org_with_admin(&server, "Acme", "root@acme-corp.example", &[]);
    let (_, pending) = claim(&server, &admin, &acme, "bücher.example");
    assert_eq!(pending["domain"], "xn--bcher-kva.example");
    let (status, error) = verify(&server, Some(&admin), &acme, "bücher.example", json!({}));
    assert_eq!(
        (status, &error["error"]["code"]),
        (409, &json!("dns_lookup_failed")),
        "{error}"
    );
    let (status, error) = verify(&server, Some(&admin), &acme, "nope.example", json!({}));
    assert_eq!(
        (status, &error["error"]["code"]),
        (404, &json!("not_found")),
        "{error}"
    );

    let (status, confirmed) = verify(
        &server,
        None,
        &acme,
        "xn--bcher-kva.example",
        json!({"method": "vendor"}),
    );
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["verified_by"], "vendor");
    assert_eq!(signup_joins(&server, "Jörg@Bücher.example."), json!(acme));
    // Confirming again answers the verified claim and changes nothing.
    let (status, again) = verify(
        &server,
        None,
        &acme,
        "xn--bcher-kva.example",
        json!({"method": "vendor"}),
    );
    assert_eq!(
        (status, &again["verified_at"]),
        (200, &confirmed["verified_at"])
    );
}
