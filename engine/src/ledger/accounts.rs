//! Reading an account: the record posting updates, and whose balance the
//! lots' rules weigh.

use super::keys;
use super::model::{Account, AccountId};
use crate::store::{Tx, TxResult};

/// Reads an account, or a fresh one with its kind's flags.
pub fn account(tx: &Tx, id: AccountId) -> TxResult<Account> {
    Ok(tx
        .get(&keys::account(id))?
        .unwrap_or_else(|| Account::open(id)))
}
