//! Email domains of an org: an Admin claims a domain and gets a TXT record
//! to publish; the claim is verified only by proof (Warden finds the record
//! through its resolver, or the vendor confirms it), and a domain is
//! verified by at most one org. Only verified domains let users auto-join.
//!
//! One file per command; the claim records they share (and an org created
//! with `verified_domains` uses) are written here; `dns.rs` reads TXT
//! records.

mod claim_domain;
pub mod dns;
mod remove_domain;
mod verify_domain;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Error;
use crate::store::{claim_token, keys, DomainClaim, DomainProof, Org, Tx, TxResult};

pub use claim_domain::ClaimDomain;
pub use remove_domain::RemoveDomain;
pub use verify_domain::{DnsLookup, VerifyDomain};

/// The Cedar action that lets a user manage an org's domains: the one that
/// changes the org's settings.
pub const DOMAIN_POLICY_ACTION: &str = "UpdateOrg";

/// Writes a pending claim of `org` on `domain` (normalised): one per org
/// and domain, and none on a domain another org holds verified.
fn insert_claim(
    tx: &Tx,
    org: Uuid,
    id: Uuid,
    domain: &str,
    token: &str,
    now: OffsetDateTime,
) -> TxResult<DomainClaim> {
    if tx.exists(&keys::org_domain(org, domain))? {
        return Err(Error::conflict(
            "domain_already_claimed",
            format!("org {org} has already claimed {domain}; see GET /v1/orgs/{org}/domains"),
        )
        .into());
    }
    refuse_taken(tx, org, domain)?;
    let claim = DomainClaim::pending(id, org, domain, token, now);
    tx.put(&keys::domain_claim(org, id), &claim)?;
    tx.put(&keys::org_domain(org, domain), &id)?;
    Ok(claim)
}

/// Marks `claim` verified by `proof` and gives its domain to `org`: the
/// owner index and the org's `verified_domains`, in the caller's
/// transaction (the caller writes `org` back). 409 `domain_taken` if
/// another org holds the domain.
fn verify_claim(
    tx: &Tx,
    org: &mut Org,
    claim: DomainClaim,
    proof: DomainProof,
    now: OffsetDateTime,
) -> TxResult<DomainClaim> {
    refuse_taken(tx, org.id, &claim.domain)?;
    let claim = claim.verified(proof, now);
    tx.put(&keys::domain_owner(&claim.domain), &org.id)?;
    tx.put(&keys::domain_claim(org.id, claim.id), &claim)?;
    org.verified_domains.push(claim.domain.clone());
    Ok(claim)
}

/// Claims `domain` (normalised) for a new `org` and verifies it as
/// confirmed by the vendor (an org created with `verified_domains`).
pub(super) fn confirm_by_vendor(
    tx: &Tx,
    org: &mut Org,
    domain: &str,
    now: OffsetDateTime,
) -> TxResult<DomainClaim> {
    let claim = insert_claim(tx, org.id, Uuid::now_v7(), domain, &claim_token(), now)?;
    verify_claim(tx, org, claim, DomainProof::Vendor, now)
}

/// 409 `domain_taken` if an org other than `org` holds `domain` verified
/// (without naming it: ids never leak across orgs).
fn refuse_taken(tx: &Tx, org: Uuid, domain: &str) -> TxResult<()> {
    match tx.get::<Uuid>(&keys::domain_owner(domain))? {
        Some(owner) if owner != org => Err(Error::conflict(
            "domain_taken",
            format!("{domain} is verified by another org; a domain belongs to at most one org"),
        )
        .into()),
        _ => Ok(()),
    }
}

/// `org`'s claim on `domain`, or 404.
fn require_claim(tx: &Tx, org: Uuid, domain: &str) -> TxResult<DomainClaim> {
    let id: Uuid = tx
        .get(&keys::org_domain(org, domain))?
        .ok_or_else(|| claim_not_found(org, domain))?;
    tx.require(&keys::domain_claim(org, id), "domain claim", id)
}

fn claim_not_found(org: Uuid, domain: &str) -> Error {
    Error::not_found("domain claim", format!("{domain} of org {org}"))
}
