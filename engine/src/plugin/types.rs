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
    /// The email address as given (see [`Signup::normalized_email`]).
    pub email: String,
    /// The orgs that hold the email's domain verified; empty when none.
    pub candidates: Vec<CandidateOrg>,
}

/// An org that may take in the signing-up user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateOrg {
    /// The org.
    pub org_id: Uuid,
    /// Its plan.
    pub plan: Plan,
    /// The domains it holds verified (normalised).
    pub verified_domains: Vec<String>,
    /// Its default workspace: the only one a join may add the user to.
    pub default_workspace: Option<Uuid>,
    /// Seats taken: its Admins, Members and Internal Guests.
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
    /// Why, for people: shown to admins and kept in the audit log.
    pub reason: String,
}

/// What an auto-joining user joins. The host refuses any join but one of
/// a candidate org that verified the email's domain, into at most its
/// default workspace, in a role neither Admin nor above its `autojoin_role`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Join {
    /// The org, one of the candidates.
    pub org_id: Uuid,
    /// Workspaces to add the user to: the org's default one, or none.
    pub workspace_ids: Vec<Uuid>,
    /// The user's role in the org.
    pub role: OrgRole,
}

/// A member about to take a seat; the seat-billing hook prices it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatEvent {
    /// The org the member joins.
    pub org_id: Uuid,
    /// Its plan.
    pub plan: Plan,
    /// 0 means unlimited.
    pub seat_limit: u32,
    /// Seats taken before this member joins.
    pub seats_used: u32,
    /// The member's role; an External Guest takes no seat and is never charged.
    pub role: OrgRole,
    /// Price of one seat for a whole billing period, in cents.
    pub seat_price_cents: u64,
    /// The start of the org's current billing period. Plugins see this
    /// and the times below as whole seconds since the Unix epoch.
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    /// Its end; after `period_start`.
    #[serde(with = "time::serde::rfc3339")]
    pub period_end: OffsetDateTime,
    /// When the member takes the seat.
    #[serde(with = "time::serde::rfc3339")]
    pub event_time: OffsetDateTime,
}

/// The seat-billing hook's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Charge {
    /// Integer cents, 0 for no charge; never above the event's
    /// `seat_price_cents`.
    pub amount_cents: u64,
    /// Why, for people: kept with the seat charge.
    pub reason: String,
}

/// A finished flow run; the usage-pricing hook prices it in credits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowRun {
    /// The flow's org, which pays.
    pub org_id: Uuid,
    /// The flow's workspace.
    pub workspace_id: Uuid,
    /// The flow.
    pub flow_id: Uuid,
    /// The caller's id of the run.
    pub run_id: Uuid,
    /// Credits the caller proposes (e.g. from its own metering), 0 for
    /// none; at most [`MAX_CREDITS_PER_RUN`].
    pub requested_credits: u64,
    /// How long the run took, in milliseconds, as the caller measured it.
    pub duration_ms: u64,
    /// How many steps it ran, as the caller counted them.
    pub steps: u32,
}

/// The usage-pricing hook's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// What the run costs; at most [`MAX_CREDITS_PER_RUN`].
    pub credits: u64,
    /// Why, for people: kept with the usage record.
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

    /// Refuses a malformed email, too many candidates, a malformed verified
    /// domain or an org listed twice.
    pub(crate) fn validate(&self) -> Result<()> {
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
    /// Refuses a billing period that does not end after it starts.
    pub(crate) fn validate(&self) -> Result<()> {
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
    /// Refuses a request above [`MAX_CREDITS_PER_RUN`].
    pub(crate) fn validate(&self) -> Result<()> {
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
