//! `GrantCredits`: grants credits to an org. System only: it moves money
//! (the vendor's billing runs it; no policy can grant it).

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::memo;
use crate::app::App;
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::error::{Error, Result};
use crate::ledger::{self, AccountId, AccountKind, NewGrant};
use crate::store::{self, Org, Tx, TxResult};

/// The most credits one grant may add.
pub const MAX_CREDITS_PER_GRANT: u64 = 1_000_000_000_000;
/// How far ahead a grant's `expires_at` may be.
pub const MAX_CREDIT_LIFETIME: Duration = Duration::days(3660);

/// Why credits were granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum GrantSource {
    Purchase,
    MonthlyAllowance,
    Promotional,
}

/// Grants credits to an org (system only).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantCredits {
    #[serde(default = "Uuid::new_v4", skip_deserializing)]
    pub(crate) id: Uuid,
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    pub(crate) credits: u64,
    pub(crate) source: GrantSource,
    #[serde(default)]
    pub(crate) memo: String,
    /// When the credits left unspent expire (RFC 3339, in the future);
    /// none: they never do.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) expires_at: Option<OffsetDateTime>,
}

/// A posted grant.
#[derive(Debug, Serialize, Deserialize)]
pub struct Grant {
    pub(crate) id: Uuid,
    pub(crate) org: Uuid,
    pub(crate) credits: u64,
    pub(crate) source: GrantSource,
    pub(crate) memo: String,
    pub(crate) transaction: Uuid,
    pub(crate) balance_after: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) period_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) expires_at: Option<OffsetDateTime>,
}

impl Command for GrantCredits {
    const ACTION: &'static str = "GrantCredits";
    type Output = Grant;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }
    fn system_only(&self) -> bool {
        true
    }

    fn validate(&self, _app: &App) -> Result<()> {
        if !(1..=MAX_CREDITS_PER_GRANT).contains(&self.credits) {
            return Err(Error::invalid(
                "credits",
                format!("must be 1 to {MAX_CREDITS_PER_GRANT}"),
            ));
        }
        if let Some(expires_at) = self.expires_at {
            let now = OffsetDateTime::now_utc();
            if !(now < expires_at && expires_at <= now + MAX_CREDIT_LIFETIME) {
                return Err(Error::invalid(
                    "expires_at",
                    format!("must be in the future, at most {MAX_CREDIT_LIFETIME} from now"),
                ));
            }
        }
        memo("memo", &self.memo)
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Grant> {
        tx.require::<Org>(&store::keys::org(self.org), "org", self.org)?;
        let period = ledger::current_period(tx, self.org, ctx.now)?;
        let credits = AccountId::org(self.org, AccountKind::OrgCredits);
        let posted = ledger::grant(
            tx,
            NewGrant {
                id: self.id,
                org: self.org,
                credits: self.credits,
                expires_at: self.expires_at,
                at: ctx.now,
                memo: json!({
                    "source": self.source,
                    "memo": self.memo,
                    "period_start": period.start.unix_timestamp(),
                }),
            },
        )?;
        ledger::count_grant(tx, self.org, period, self.credits)?;
        Ok(Grant {
            id: self.id,
            org: self.org,
            credits: self.credits,
            source: self.source,
            memo: self.memo.clone(),
            transaction: posted.transaction.id,
            balance_after: posted.balance(credits),
            period_start: period.start,
            expires_at: self.expires_at,
        })
    }
}
