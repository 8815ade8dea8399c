//! `RemoveDomain`: withdraws a claim; a verified domain stops letting users
//! auto-join and is free for another org. Needs `UpdateOrg` on the org (the
//! action that changes the org's settings).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{require_claim, DOMAIN_POLICY_ACTION};
use crate::app::App;
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::error::Result;
use crate::fields;
use crate::store::{keys, ClaimState, DomainClaim, Org, Tx, TxResult};

/// `DELETE /v1/orgs/{id}/domains/{domain}`: withdraws a claim; a verified
/// domain stops letting users auto-join and is free for another org.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveDomain {
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    #[serde(skip_deserializing)]
    pub(crate) domain: String,
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
