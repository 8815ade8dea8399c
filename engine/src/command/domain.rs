//! Email domains of an org: an Admin claims a domain and gets a TXT record
//! to publish; the claim is verified only by proof (Warden finds the record
//! through its resolver, or the vendor confirms it), and a domain is
//! verified by at most one org. Only verified domains let users auto-join.

pub mod dns;

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{require_system, ApplyContext, Command};
use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::fields::{self, MAX_DOMAINS};
use crate::plugin::PluginAnswer;
use crate::policy::PolicySnapshot;
use crate::store::{claim_token, keys, ClaimState, DomainClaim, DomainProof, Org, Tx, TxResult};

/// The Cedar action that lets a user manage an org's domains: the one that
/// changes the org's settings.
pub const DOMAIN_POLICY_ACTION: &str = "UpdateOrg";

/// `POST /v1/orgs/{id}/domains`: claims a domain for the org.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimDomain {
    #[serde(default = "Uuid::now_v7", skip_deserializing)]
    pub id: Uuid,
    #[serde(skip_deserializing)]
    pub org: Uuid,
    pub domain: String,
    #[serde(default = "claim_token", skip_deserializing)]
    token: String,
}

impl Command for ClaimDomain {
    const ACTION: &'static str = "ClaimDomain";
    const POLICY_ACTION: &'static str = DOMAIN_POLICY_ACTION;
    type Output = DomainClaim;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn validate(&self, _app: &App) -> Result<()> {
        fields::verifiable_domain("domain", &self.domain).map(drop)
    }

    /// The org's claims are counted against [`MAX_DOMAINS`].
    fn scans(&self) -> Vec<Vec<u8>> {
        vec![keys::domain_claims_of_org(self.org)]
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<DomainClaim> {
        tx.require::<Org>(&keys::org(self.org), "org", self.org)?;
        let claims = tx.committed_children(&keys::domain_claims_of_org(self.org))?;
        if claims.len() >= MAX_DOMAINS {
            return Err(Error::conflict(
                "too_many_domains",
                format!("an org may claim at most {MAX_DOMAINS} domains (MAX_DOMAINS); remove one first"),
            )
            .into());
        }
        let domain = fields::verifiable_domain("domain", &self.domain)?;
        insert_claim(tx, self.org, self.id, &domain, &self.token, ctx.now)
    }
}

/// What Warden's DNS lookup found when it verified a claim (kept in the
/// audit record).
#[derive(Debug, Serialize, Deserialize)]
pub struct DnsLookup {
    pub resolver: String,
    pub name: String,
    pub expected: String,
    pub found: Vec<String>,
}

/// `POST /v1/orgs/{id}/domains/{domain}/verify`: proves a claim, by DNS
/// (`{"method": "dns"}`, the default) or, for the vendor only, by
/// confirmation (`{"method": "vendor"}`).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyDomain {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub domain: String,
    #[serde(default)]
    pub method: DomainProof,
    /// What the DNS lookup found, for `apply` and the audit record.
    #[serde(skip_deserializing)]
    lookup: Option<DnsLookup>,
    /// The resolver to ask (the server's `dns_resolver`).
    #[serde(skip)]
    pub resolver: Option<SocketAddr>,
}

impl Command for VerifyDomain {
    const ACTION: &'static str = "VerifyDomain";
    const POLICY_ACTION: &'static str = DOMAIN_POLICY_ACTION;
    type Output = DomainClaim;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn validate(&self, _app: &App) -> Result<()> {
        fields::domain("domain", &self.domain).map(drop)
    }

    /// A DNS proof needs the policies' `UpdateOrg`; a confirmation without
    /// DNS needs the vendor.
    fn authorize(&self, app: &App, actor: Actor) -> Result<Arc<PolicySnapshot>> {
        if self.method == DomainProof::Vendor {
            require_system(actor, "confirm a domain without DNS proof")?;
        }
        app.require(actor, Self::POLICY_ACTION, self.resource())
    }

    /// Looks the claim's TXT record up (before the transaction, like a
    /// plugin call); a claim without its record is refused here.
    fn consult(&mut self, app: &App) -> Result<Vec<PluginAnswer<serde_json::Value>>> {
        self.lookup = None;
        let domain = fields::domain("domain", &self.domain)?;
        let claim = app
            .store
            .domain_claim(self.org, &domain)?
            .ok_or_else(|| claim_not_found(self.org, &domain))?;
        if self.method == DomainProof::Vendor || claim.state == ClaimState::Verified {
            return Ok(Vec::new());
        }
        let lookup = look_up(self.resolver, &claim)?;
        if !lookup.found.contains(&lookup.expected) {
            return Err(Error::conflict(
                "domain_not_proven",
                format!(
                    "{} has no TXT record {:?} (found {:?}); publish it and verify again",
                    lookup.name, lookup.expected, lookup.found
                ),
            ));
        }
        self.lookup = Some(lookup);
        Ok(Vec::new())
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<DomainClaim> {
        let mut org: Org = tx.require(&keys::org(self.org), "org", self.org)?;
        let domain = fields::domain("domain", &self.domain)?;
        let claim = require_claim(tx, org.id, &domain)?;
        if claim.state == ClaimState::Verified {
            return Ok(claim);
        }
        let proven = match &self.lookup {
            Some(lookup) => lookup.expected == claim.txt_record.value,
            None => self.method == DomainProof::Vendor,
        };
        if !proven {
            return Err(Error::Stale(format!(
                "the claim on {domain} changed during its verification"
            ))
            .into());
        }
        let claim = verify_claim(tx, &mut org, claim, self.method, ctx.now)?;
        tx.put(&keys::org(org.id), &org)?;
        Ok(claim)
    }
}

/// `DELETE /v1/orgs/{id}/domains/{domain}`: withdraws a claim; a verified
/// domain stops letting users auto-join and is free for another org.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveDomain {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub domain: String,
}

impl Command for RemoveDomain {
    const ACTION: &'static str = "RemoveDomain";
    const POLICY_ACTION: &'static str = DOMAIN_POLICY_ACTION;
    type Output = DomainClaim;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn validate(&self, _app: &App) -> Result<()> {
        fields::domain("domain", &self.domain).map(drop)
    }

    fn apply(&self, tx: &Tx, _ctx: &ApplyContext) -> TxResult<DomainClaim> {
        let mut org: Org = tx.require(&keys::org(self.org), "org", self.org)?;
        let domain = fields::domain("domain", &self.domain)?;
        let claim = require_claim(tx, org.id, &domain)?;
        tx.remove(&keys::domain_claim(org.id, claim.id))?;
        tx.remove(&keys::org_domain(org.id, &domain))?;
        if claim.state == ClaimState::Verified {
            tx.remove(&keys::domain_owner(&domain))?;
            org.verified_domains.retain(|d| *d != domain);
            tx.put(&keys::org(org.id), &org)?;
        }
        Ok(claim)
    }
}

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

/// Asks `resolver` for the TXT records at the claim's challenge name.
fn look_up(resolver: Option<SocketAddr>, claim: &DomainClaim) -> Result<DnsLookup> {
    let name = &claim.txt_record.name;
    let resolver = resolver.ok_or_else(|| {
        Error::conflict(
            "dns_unavailable",
            "no DNS resolver is configured (dns_resolver) or listed in /etc/resolv.conf",
        )
    })?;
    let found = dns::txt_records(resolver, name).map_err(|failed| {
        Error::conflict(
            "dns_lookup_failed",
            format!(
                "cannot look up the TXT records of {name}: {}; verify again later",
                failed.0
            ),
        )
    })?;
    Ok(DnsLookup {
        resolver: resolver.to_string(),
        name: name.clone(),
        expected: claim.txt_record.value.clone(),
        found,
    })
}
