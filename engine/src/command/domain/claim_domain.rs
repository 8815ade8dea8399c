//! `ClaimDomain`: claims a domain for the org and gives the TXT record to
//! publish; the claim stays pending until proven. Needs `UpdateOrg` on the
//! org (the action that changes the org's settings); an org claims at most
//! `MAX_DOMAINS` domains.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{insert_claim, DOMAIN_POLICY_ACTION};
use crate::app::App;
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::error::{Error, Result};
use crate::fields::{self, MAX_DOMAINS};
use crate::store::{claim_token, keys, DomainClaim, Org, Tx, TxResult};

/// `POST /v1/orgs/{id}/domains`: claims a domain for the org.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimDomain {
    #[serde(default = "Uuid::now_v7", skip_deserializing)]
    pub(crate) id: Uuid,
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    pub(crate) domain: String,
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
