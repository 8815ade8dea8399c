//! Credits, usage, billing settings and reversals: the ledger's commands.
//!
//! Who may: granting credits and reversing transactions move money and are
//! system-only (the vendor's billing runs them; no policy can grant them).
//! Billing settings need `ManageBilling` on the org and a run's own price
//! `PriceUsage` on the flow: the vendor's terms, which no default policy
//! grants to a tenant role (a deployment may delegate them by a policy).
//! Recording usage needs `RecordUsage` on the flow (by default: org members
//! who may run the workspace's flows, and admins); without `PriceUsage` the
//! run is priced by the `usage-pricing` hook.
//!
//! One file per command; the memo rule they share is here.

mod grant_credits;
mod record_usage;
mod reverse_transaction;
mod set_billing;

use crate::error::{Error, Result};

pub use grant_credits::{Grant, GrantCredits, MAX_CREDITS_PER_GRANT};
pub use record_usage::{PluginPrice, RecordUsage};
pub use reverse_transaction::ReverseTransaction;
pub use set_billing::{SetBilling, MAX_OVERAGE_CAP_CREDITS};

/// The longest memo or reason.
pub const MAX_MEMO_BYTES: usize = 500;

fn memo(field: &str, text: &str) -> Result<()> {
    if text.len() > MAX_MEMO_BYTES {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_MEMO_BYTES} bytes"),
        ));
    }
    Ok(())
}
