//! `ReverseTransaction`: posts the mirror image of a transaction, the one
//! way to correct the ledger. System only: it moves money (the vendor's
//! billing runs it; no policy can grant it).

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::memo;
use crate::app::App;
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::error::{Error, Result};
use crate::ledger::{self, keys, LedgerTransaction};
use crate::store::{Tx, TxResult};

/// Posts the mirror image of a transaction (system only): the one way to
/// correct the ledger.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseTransaction {
    #[serde(skip_deserializing)]
    pub(crate) transaction: Uuid,
    /// The reversed transaction's org, looked up by the caller.
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    pub(crate) reason: String,
}

impl Command for ReverseTransaction {
    const ACTION: &'static str = "ReverseTransaction";
    type Output = LedgerTransaction;

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
        if self.reason.trim().is_empty() {
            return Err(Error::invalid("reason", "must not be empty"));
        }
        memo("reason", &self.reason)
    }

    /// Posts the reversal and takes the reversed run or grant out of its
    /// period's counters, so reports and low-balance signals agree.
    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<LedgerTransaction> {
        let memo = json!({"reason": self.reason});
        let posted = ledger::reverse(tx, self.transaction, ctx.now, memo)?;
        let original = tx.require(
            &keys::transaction(self.transaction),
            "transaction",
            self.transaction,
        )?;
        ledger::uncount(tx, &original)?;
        Ok(posted.transaction)
    }
}
