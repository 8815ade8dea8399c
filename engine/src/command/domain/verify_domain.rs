//! `VerifyDomain`: proves a claim, by DNS (Warden looks the TXT record up
//! in `consult`, before the transaction) or, for the vendor only, by
//! confirmation. A DNS proof needs the policies' `UpdateOrg` on the org; a
//! confirmation without DNS needs the vendor (the system actor) too.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{claim_not_found, dns, require_claim, verify_claim, DOMAIN_POLICY_ACTION};
use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::command::{require_system, ApplyContext, Command};
use crate::error::{Error, Result};
use crate::fields;
use crate::plugin::PluginAnswer;
use crate::policy::PolicySnapshot;
use crate::store::{keys, ClaimState, DomainClaim, DomainProof, Org, Tx, TxResult};

/// What Warden's DNS lookup found when it verified a claim (kept in the
/// audit record).
#[derive(Debug, Serialize, Deserialize)]
pub struct DnsLookup {
    pub(crate) resolver: String,
    pub(crate) name: String,
    pub(crate) expected: String,
    pub(crate) found: Vec<String>,
}

/// `POST /v1/orgs/{id}/domains/{domain}/verify`: proves a claim, by DNS
/// (`{"method": "dns"}`, the default) or, for the vendor only, by
/// confirmation (`{"method": "vendor"}`).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyDomain {
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    #[serde(skip_deserializing)]
    pub(crate) domain: String,
    #[serde(default)]
    pub(crate) method: DomainProof,
    /// What the DNS lookup found, for `apply` and the audit record.
    #[serde(skip_deserializing)]
    lookup: Option<DnsLookup>,
    /// The resolver to ask (the server's `dns_resolver`).
    #[serde(skip)]
    pub(crate) resolver: Option<SocketAddr>,
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
