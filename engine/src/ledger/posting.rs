//! Posting a transaction inside a store transaction: the postings, every
//! touched account's new totals, one entry per posting and the transaction
//! record land together or not at all. Nothing here updates or deletes an
//! entry; a correction is a reversing transaction.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{
    Account, AccountId, AccountKind, Entry, LedgerTransaction, LotPosting, Posting, Side,
    TransactionKind, Unit,
};
use super::{accounts, keys, lots};
use crate::error::{Error, Result};
use crate::store::{Store, Tx, TxResult};

/// A transaction to post; its id is taken when it is written.
pub struct NewTransaction {
    pub at: OffsetDateTime,
    pub org: Uuid,
    pub kind: TransactionKind,
    pub reference: String,
    pub reverses: Option<Uuid>,
    pub postings: Vec<Posting>,
    /// Its changes to the org's expiring credit lots (see `lots`).
    pub lots: Vec<LotPosting>,
    pub memo: serde_json::Value,
}

/// A posted transaction and its accounts as they now stand.
pub struct Posted {
    pub transaction: LedgerTransaction,
    pub accounts: BTreeMap<AccountId, Account>,
}

impl Posted {
    /// The balance of `account` after the transaction.
    pub fn balance(&self, account: AccountId) -> i64 {
        let balance = self.accounts[&account].balance();
        i64::try_from(balance).expect("posting refuses balances outside i64")
    }
}

/// The two postings moving `amount` from `debit` to `credit`.
pub fn transfer(debit: AccountId, credit: AccountId, amount: u64) -> Vec<Posting> {
    assert_eq!(
        debit.kind.unit(),
        credit.kind.unit(),
        "a transfer has one unit"
    );
    let line = |account: AccountId, side| Posting {
        account,
        unit: account.kind.unit(),
        side,
        amount,
    };
    vec![line(debit, Side::Debit), line(credit, Side::Credit)]
}

/// Posts `new` and applies its lot postings. Refuses (writing nothing) a
/// transaction that would take an account past its flags (402
/// `insufficient_credits` for an org's credits) or overflow a total.
pub fn post(tx: &Tx, new: NewTransaction) -> TxResult<Posted> {
    assert_balanced(&new.postings);
    let mut accounts = BTreeMap::new();
    for posting in &new.postings {
        assert!(posting.amount > 0, "postings move a positive amount");
        assert_eq!(posting.unit, posting.account.kind.unit(), "posting unit");
        let mut account = accounts::account(tx, posting.account)?;
        assert!(
            !accounts.contains_key(&posting.account),
            "an account appears once per transaction (its entry key is account | transaction)"
        );
        apply(&mut account, posting)?;
        accounts.insert(posting.account, account);
    }
    for account in accounts.values() {
        if !account.within_floor() {
            return Err(refusal(account, &new).into());
        }
    }
    let sequence = next_sequence(tx)?;
    let id = transaction_id(new.at, sequence);
    for posting in &new.postings {
        let account = accounts.get_mut(&posting.account).expect("loaded above");
        account.entries += 1;
        let entry = Entry {
            transaction: id,
            at: new.at,
            kind: new.kind,
            reference: new.reference.clone(),
            side: posting.side,
            amount: posting.amount,
            balance_after: i64::try_from(account.balance()).map_err(|_| overflow(account.id))?,
        };
        tx.put(&keys::entry(account.id, id), &entry)?;
        tx.put(&keys::account(account.id), &*account)?;
    }
    lots::apply(tx, new.org, new.kind, &new.lots)?;
    let transaction = LedgerTransaction {
        id,
        sequence: Some(sequence),
        at: new.at,
        org: new.org,
        kind: new.kind,
        reference: new.reference,
        reverses: new.reverses,
        postings: new.postings,
        lots: new.lots,
        memo: new.memo,
    };
    tx.put(&keys::transaction(id), &transaction)?;
    Ok(Posted {
        transaction,
        accounts,
    })
}

/// How many transactions the ledger holds: the last `sequence` posted, one
/// read of the counter record (transactions are never removed; a reversal
/// is one more).
pub fn transactions_posted(store: &Store) -> Result<u64> {
    Ok(store.get::<u64>(&keys::sequence())?.unwrap_or(0))
}

/// The next number of the ledger's commit order. Every posting reads and
/// writes the one counter record in its store transaction, so two postings
/// that commit are numbered in the order they commit, whatever the clock
/// says (a retried transaction reads the counter again).
fn next_sequence(tx: &Tx) -> TxResult<u64> {
    let sequence = tx.get::<u64>(&keys::sequence())?.unwrap_or(0) + 1;
    tx.put(&keys::sequence(), &sequence)?;
    Ok(sequence)
}

/// The id of transaction number `sequence`, posted at `at`: a v7 uuid of
/// `at`'s millisecond whose 74 counter bits hold the sequence (high bits
/// first), so ids of one millisecond sort in commit order and no two
/// transactions share one. A clock that steps back makes ids go back too;
/// the order of the ledger is `sequence`, never the id.
pub(super) fn transaction_id(at: OffsetDateTime, sequence: u64) -> Uuid {
    const MILLIS_BITS: u32 = 48;
    let millis = (at.unix_timestamp_nanos() / 1_000_000).clamp(0, (1 << MILLIS_BITS) - 1) as u128;
    // 74 counter bits: 12 after the version nibble, 62 after the variant.
    let counter = u128::from(sequence) << 10;
    let (high, low) = (counter >> 62, counter & ((1 << 62) - 1));
    Uuid::from_u128(millis << 80 | 0x7 << 76 | high << 64 | 0b10 << 62 | low)
}

/// Σ debits = Σ credits for every unit: a bug if not, never client input.
fn assert_balanced(postings: &[Posting]) {
    let mut sums: BTreeMap<Unit, i128> = BTreeMap::new();
    for p in postings {
        let signed = match p.side {
            Side::Debit => i128::from(p.amount),
            Side::Credit => -i128::from(p.amount),
        };
        *sums.entry(p.unit).or_default() += signed;
    }
    assert!(!postings.is_empty(), "a transaction has postings");
    assert!(
        sums.values().all(|s| *s == 0),
        "unbalanced postings {postings:?}"
    );
}

fn apply(account: &mut Account, posting: &Posting) -> Result<(), Error> {
    let total = match posting.side {
        Side::Debit => &mut account.debits_posted,
        Side::Credit => &mut account.credits_posted,
    };
    *total = total
        .checked_add(posting.amount)
        .ok_or_else(|| overflow(account.id))?;
    Ok(())
}

fn overflow(account: AccountId) -> Error {
    Error::conflict(
        "ledger_overflow",
        format!(
            "the totals of account {:?} of {} would overflow",
            account.kind, account.owner
        ),
    )
}

/// Why `account` may not take the transaction.
fn refusal(account: &Account, new: &NewTransaction) -> Error {
    let balance = account.balance();
    let needed: u64 = new
        .postings
        .iter()
        .filter(|p| p.account == account.id)
        .map(|p| p.amount)
        .sum();
    if account.id.kind == AccountKind::OrgCredits {
        return Error::PaymentRequired {
            code: "insufficient_credits",
            message: format!(
                "org {} has {} credits (overage cap {}); {:?} {} needs {needed}",
                account.id.owner,
                balance + i128::from(needed),
                account.overdraft_limit,
                new.kind,
                new.reference
            ),
        };
    }
    Error::conflict(
        "account_floor",
        format!(
            "account {:?} of {} would reach {balance}, past what its flags allow",
            account.id.kind, account.id.owner
        ),
    )
}
