//! The host-side inputs and outputs of the hooks: plain Rust types with
//! snake_case JSON, independent of the WIT bindings. They are what commands
//! pass, what `POST /v1/plugins/call` accepts and what answer records store.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::fields;
use crate::store::{Org, OrgRole, Plan};

/// The most credits one flow run may cost, whatever a plugin says.
pub const MAX_CREDITS_PER_RUN: u64 = 1_000_000;

/// The most candidate orgs one signup may carry (bounds the call's input).
pub const MAX_CANDIDATES: usize = 64;

/// A user signing up, with the orgs that verified their email's domain.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signup {
    pub email: String,
    pub candidates: Vec<CandidateOrg>,
}

/// An org that may take in the signing-up user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateOrg {
    pub org_id: Uuid,
    pub plan: Plan,
    pub verified_domains: Vec<String>,
    pub default_workspace: Option<Uuid>,
    pub seats_used: u32,
    /// 0 means unlimited.
    pub seat_limit: u32,
    /// The role the org's admins chose for auto-joined users.
    pub autojoin_role: OrgRole,
}

/// The autojoin hook's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinDecision {
    /// `None`: the user joins nothing.
    pub join: Option<Join>,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Join {
    pub org_id: Uuid,
    pub workspace_ids: Vec<Uuid>,
    pub role: OrgRole,
}

/// A member about to take a seat; the seat-billing hook prices it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatEvent {
    pub org_id: Uuid,
    pub plan: Plan,
    /// 0 means unlimited.
    pub seat_limit: u32,
    /// Seats taken before this member joins.
    pub seats_used: u32,
    pub role: OrgRole,
    /// Price of one seat for a whole billing period, in cents.
    pub seat_price_cents: u64,
    /// Plugins see whole seconds since the Unix epoch.
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub period_end: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub event_time: OffsetDateTime,
}

/// The seat-billing hook's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Charge {
    pub amount_cents: u64,
    pub reason: String,
}

/// A finished flow run; the usage-pricing hook prices it in credits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowRun {
    pub org_id: Uuid,
    pub workspace_id: Uuid,
    pub flow_id: Uuid,
    pub run_id: Uuid,
    pub requested_credits: u64,
    pub duration_ms: u64,
    pub steps: u32,
}

/// The usage-pricing hook's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub credits: u64,
    pub reason: String,
}

impl Signup {
    /// The normalised (trimmed, lower-case) email address.
    pub fn normalized_email(&self) -> String {
        self.email.trim().to_lowercase()
    }

    /// The normalised email's domain.
    pub fn domain(&self) -> String {
        fields::email_domain(&self.normalized_email()).to_string()
    }

    pub fn validate(&self) -> Result<()> {
        fields::email("email", &self.email)?;
        if self.candidates.len() > MAX_CANDIDATES {
            return Err(Error::invalid(
                "candidates",
                format!("at most {MAX_CANDIDATES} candidate orgs"),
            ));
        }
        for (i, candidate) in self.candidates.iter().enumerate() {
            let field = format!("candidates[{i}]");
            fields::domains(
                &format!("{field}.verified_domains"),
                &candidate.verified_domains,
            )?;
            if self.candidates[..i]
                .iter()
                .any(|c| c.org_id == candidate.org_id)
            {
                return Err(Error::invalid(
                    format!("{field}.org_id"),
                    format!("org {} is listed twice", candidate.org_id),
                ));
            }
        }
        Ok(())
    }
}

impl From<&Org> for CandidateOrg {
    fn from(org: &Org) -> Self {
        CandidateOrg {
            org_id: org.id,
            plan: org.plan,
            verified_domains: org.verified_domains.clone(),
            default_workspace: org.default_workspace,
            seats_used: org.seats_used,
            seat_limit: org.seat_limit,
            autojoin_role: org.autojoin_role,
        }
    }
}

impl CandidateOrg {
    /// Whether this org has verified `domain` (already normalised).
    pub fn verifies(&self, domain: &str) -> bool {
        self.verified_domains
            .iter()
            .any(|d| d.trim().trim_end_matches('.').eq_ignore_ascii_case(domain))
    }
}

impl SeatEvent {
    pub fn validate(&self) -> Result<()> {
        if self.period_end <= self.period_start {
            return Err(Error::invalid(
                "period_end",
                "must be after period_start (a billing period has a positive length)",
            ));
        }
        Ok(())
    }
}

impl FlowRun {
    pub fn validate(&self) -> Result<()> {
        let max = MAX_CREDITS_PER_RUN;
        if self.requested_credits > max {
            return Err(Error::invalid(
                "requested_credits",
                format!("at most {max} credits per run"),
            ));
        }
        Ok(())
    }
}
