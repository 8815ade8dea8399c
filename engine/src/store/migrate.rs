//! Moving a store written by an older layout up to [`SCHEMA_VERSION`], once,
//! when it is opened and before anything else reads it.

use std::collections::HashSet;

use time::OffsetDateTime;
use uuid::Uuid;

use super::codec::{self, COMPACT};
use super::{claim_token, decode, keys, DomainClaim, DomainProof, Org, Store};

/// Schema 1 → 2: domains became claims. Schema 1 let any number of orgs
/// list a domain as verified (`Org.verified_domains` and an index of
/// `domain | org` pairs); schema 2 gives each domain to at most one org.
/// Every listed domain becomes a claim: the oldest org listing it (then the
/// lowest id) keeps it verified, as confirmed by the vendor; any later org
/// keeps a pending claim it has to prove, and loses the domain from its
/// `verified_domains` (logged). The old index is removed. One transaction,
/// with the new schema version.
pub(super) fn domain_claims(store: &Store) -> anyhow::Result<()> {
    let mut orgs: Vec<Org> = Vec::new();
    for entry in store.scan(&[keys::ORG]) {
        orgs.push(decode(&entry?.1)?);
    }
    orgs.sort_by_key(|o| (o.created_at, o.id));
    let legacy: Vec<Vec<u8>> = store
        .scan(&keys::legacy_domain_orgs())
        .map(|entry| entry.map(|(key, _)| key))
        .collect::<crate::error::Result<_>>()?;
    let now = OffsetDateTime::now_utc();
    store.transact(|tx| {
        let mut owned = HashSet::new();
        for org in &orgs {
            let mut kept = Vec::new();
            for domain in &org.verified_domains {
                let id = Uuid::now_v7();
                let mut claim = DomainClaim::pending(id, org.id, domain, &claim_token(), now);
                if owned.insert(domain.clone()) {
                    claim = claim.verified(DomainProof::Vendor, now);
                    tx.put(&keys::domain_owner(domain), &org.id)?;
                    kept.push(domain.clone());
                } else {
                    tracing::warn!(
                        org = %org.id,
                        "{domain} is verified by an older org; org {} keeps a pending claim on it",
                        org.id
                    );
                }
                tx.put(&keys::domain_claim(org.id, id), &claim)?;
                tx.put(&keys::org_domain(org.id, domain), &id)?;
            }
            if kept != org.verified_domains {
                let mut org = org.clone();
                org.verified_domains = kept;
                tx.put(&keys::org(org.id), &org)?;
            }
        }
        for key in &legacy {
            tx.remove(key)?;
        }
        tx.put_raw(&keys::schema_version(), &2u32.to_be_bytes())
    })?;
    Ok(())
}

/// How many records one step of [`compact_check_records`] rewrites.
const COMPACTION_BATCH: usize = 10_000;

/// Schema 2 → 3: the records checks read become compact (`store::codec`).
/// Each kind is rewritten in batches; a batch cut short by a crash leaves
/// both formats, which every reader takes, and the next open goes on. The
/// schema version moves last.
pub(super) fn compact_check_records(store: &Store) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut rewritten = 0usize;
    for tag in [
        keys::ORG,
        keys::USER,
        keys::MEMBERSHIP,
        keys::WORKSPACE,
        keys::WORKSPACE_MEMBER,
        keys::RESOURCE,
    ] {
        let mut batch = Vec::with_capacity(COMPACTION_BATCH);
        for entry in store.scan(&[tag]) {
            let (key, value) = entry?;
            if value.first() == Some(&COMPACT) {
                continue;
            }
            batch.push((key, Some(compact_again(tag, &value)?)));
            if batch.len() == COMPACTION_BATCH {
                store.backend.write_rows(&batch)?;
                rewritten += batch.len();
                batch.clear();
            }
        }
        store.backend.write_rows(&batch)?;
        rewritten += batch.len();
    }
    store.set_schema_version(3)?;
    tracing::info!(
        records = rewritten,
        seconds = started.elapsed().as_secs_f64(),
        "made the records checks read compact (schema 2 → 3)"
    );
    Ok(())
}

/// One JSON record of kind `tag`, compact.
fn compact_again(tag: u8, json: &[u8]) -> anyhow::Result<Vec<u8>> {
    use super::{Membership, Resource, User, Workspace, WorkspaceMember};
    fn again<T: serde::de::DeserializeOwned + serde::Serialize>(
        json: &[u8],
    ) -> anyhow::Result<Vec<u8>> {
        Ok(codec::compact(&decode::<T>(json)?))
    }
    match tag {
        keys::ORG => again::<Org>(json),
        keys::USER => again::<User>(json),
        keys::MEMBERSHIP => again::<Membership>(json),
        keys::WORKSPACE => again::<Workspace>(json),
        keys::WORKSPACE_MEMBER => again::<WorkspaceMember>(json),
        keys::RESOURCE => again::<Resource>(json),
        _ => unreachable!("only the records checks read are compact"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CheckRecords;
    use crate::store::{
        consistency, ClaimState, InvitationMode, Membership, MembershipStatus, OrgRole, Plan, User,
        SCHEMA_VERSION,
    };

    /// A raw database for writing an old schema's records. Without sled's
    /// background flusher, dropping it releases the directory's lock at
    /// once, so the store can open it right after (with the flusher, the
    /// lock outlives the drop for a moment and the open fails).
    fn legacy_db(path: &std::path::Path) -> sled::Db {
        sled::Config::new()
            .path(path)
            .flush_every_ms(None)
            .open()
            .unwrap()
    }

    fn org(name: &str, created_at: OffsetDateTime, domains: &[&str]) -> Org {
        Org {
            id: Uuid::now_v7(),
            name: name.into(),
            plan: Plan::Pro,
            seat_limit: 0,
            verified_domains: domains.iter().map(|d| d.to_string()).collect(),
            default_workspace: None,
            autojoin_role: OrgRole::Member,
            invitation_mode: InvitationMode::default(),
            workspace_count: 0,
            seats_used: 0,
            admin_count: 0,
            created_at,
        }
    }

    #[test]
    fn a_schema_1_domain_stays_with_its_oldest_org_and_the_others_must_prove_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let early = OffsetDateTime::now_utc() - time::Duration::days(30);
        let acme = org("Acme", early, &["acme.com", "acme.io"]);
        let attacker = org("Attacker", early + time::Duration::days(1), &["acme.com"]);
        {
            let db = legacy_db(&path);
            db.insert(keys::schema_version(), &1u32.to_be_bytes())
                .unwrap();
            for org in [&acme, &attacker] {
                db.insert(keys::org(org.id), codec::json(org)).unwrap();
                for domain in &org.verified_domains {
                    let key = keys::join(
                        keys::LEGACY_DOMAIN_ORGS,
                        &[domain.as_bytes(), &[0], org.id.as_bytes()],
                    );
                    db.insert(key, &[]).unwrap();
                }
            }
            db.flush().unwrap();
        }
        let store = Store::open(&path, 1 << 20).unwrap();
        assert_eq!(consistency::check(&store).unwrap(), Vec::<String>::new());
        assert_eq!(store.domain_owner("acme.com").unwrap().unwrap().id, acme.id);
        assert_eq!(store.domain_owner("acme.io").unwrap().unwrap().id, acme.id);
        let kept = store.domain_claim(acme.id, "acme.com").unwrap().unwrap();
        assert_eq!(
            (kept.state, kept.verified_by),
            (ClaimState::Verified, Some(DomainProof::Vendor))
        );
        let lost = store
            .domain_claim(attacker.id, "acme.com")
            .unwrap()
            .unwrap();
        assert_eq!(lost.state, ClaimState::Pending);
        assert!(store
            .org(attacker.id)
            .unwrap()
            .unwrap()
            .verified_domains
            .is_empty());
        drop(store);
        // Reopening finds the current schema and changes nothing.
        let store = Store::open(&path, 1 << 20).unwrap();
        assert_eq!(store.domain_owner("acme.com").unwrap().unwrap().id, acme.id);
    }

    #[test]
    fn a_schema_2_store_gets_compact_check_records_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let acme = org("Acme", OffsetDateTime::now_utc(), &[]);
        let user = User {
            id: Uuid::now_v7(),
            email: "ann@acme.com".into(),
            created_at: OffsetDateTime::now_utc(),
        };
        let member = Membership {
            org: acme.id,
            user: user.id,
            role: OrgRole::Admin,
            status: MembershipStatus::Active,
            created_at: OffsetDateTime::now_utc(),
        };
        let audit_key = keys::audit(acme.id, Uuid::now_v7());
        {
            let db = legacy_db(&path);
            db.insert(keys::schema_version(), &2u32.to_be_bytes())
                .unwrap();
            db.insert(keys::org(acme.id), codec::json(&acme)).unwrap();
            db.insert(keys::user(user.id), codec::json(&user)).unwrap();
            let membership = keys::membership(acme.id, user.id);
            db.insert(membership, codec::json(&member)).unwrap();
            db.insert(&audit_key, codec::json(&"kept")).unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(&path, 1 << 20).unwrap();
        for key in [
            keys::org(acme.id),
            keys::user(user.id),
            keys::membership(acme.id, user.id),
        ] {
            assert_eq!(store.get_raw(&key).unwrap().unwrap()[0], COMPACT);
        }
        assert_eq!(store.org(acme.id).unwrap(), Some(acme.clone()));
        assert_eq!(store.user(user.id).unwrap(), Some(user.clone()));
        assert_eq!(store.membership(acme.id, user.id).unwrap(), Some(member));
        assert_eq!(&*store.get_raw(&audit_key).unwrap().unwrap(), b"\"kept\"");
        let version = store.get_raw(&keys::schema_version()).unwrap().unwrap();
        assert_eq!(&*version, &SCHEMA_VERSION.to_be_bytes());
    }
}
