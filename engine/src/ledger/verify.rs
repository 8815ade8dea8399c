//! `warden ledger verify` and `GET /v1/ledger/verify`: recomputes every
//! account from the transactions and checks the ledger's invariants. The
//! one place that reads the whole ledger; it runs while no transaction
//! commits (see `Store::quiesced`).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use uuid::Uuid;

use super::keys;
use super::model::{
    Account, AccountId, Entry, LedgerTransaction, Side, TransactionKind, Unit, UsageRecord,
};
use crate::error::Result;
use crate::store::Store;

/// The most violations a report lists (it counts them all).
pub const MAX_REPORTED_VIOLATIONS: usize = 100;

/// What verify found.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub transactions: u64,
    pub postings: u64,
    pub accounts: u64,
    pub entries: u64,
    pub usage_runs: u64,
    /// Σ of all postings per unit; debits equal credits in a sound ledger.
    pub totals: BTreeMap<Unit, Totals>,
    pub violation_count: u64,
    pub violations: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    pub debits: u128,
    pub credits: u128,
}

impl Totals {
    fn add(&mut self, side: Side, amount: u64) {
        match side {
            Side::Debit => self.debits += u128::from(amount),
            Side::Credit => self.credits += u128::from(amount),
        }
    }
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.violation_count == 0
    }

    fn violation(&mut self, text: String) {
        self.violation_count += 1;
        if self.violations.len() < MAX_REPORTED_VIOLATIONS {
            self.violations.push(text);
        }
    }

    /// A few lines for a terminal.
    pub fn summary(&self) -> String {
        let mut lines = vec![format!(
            "{} transactions, {} postings, {} accounts, {} entries, {} usage runs",
            self.transactions, self.postings, self.accounts, self.entries, self.usage_runs
        )];
        for (unit, totals) in &self.totals {
            lines.push(format!(
                "{unit:?}: debits {} = credits {}",
                totals.debits, totals.credits
            ));
        }
        lines.push(match self.violation_count {
            0 => "ok: no violations".to_string(),
            n => format!("{n} violations:"),
        });
        lines.extend(self.violations.iter().map(|v| format!("  {v}")));
        lines.join("\n")
    }
}

/// Checks the whole ledger; see the module doc.
pub fn verify(store: &Store) -> Result<VerifyReport> {
    store.quiesced(|| {
        let mut verifier = Verifier::default();
        verifier.transactions(store)?;
        verifier.accounts(store)?;
        verifier.usage_runs(store)?;
        Ok(verifier.report)
    })
}

#[derive(Default)]
struct Verifier {
    report: VerifyReport,
    /// Per account, recomputed from the transactions: totals and postings.
    recomputed: HashMap<AccountId, (Totals, u64)>,
    references: HashSet<(TransactionKind, String)>,
    reversed: Vec<(Uuid, Uuid)>,
}

impl Verifier {
    fn transactions(&mut self, store: &Store) -> Result<()> {
        store.for_each(&keys::transactions(), |key, t: LedgerTransaction| {
            if keys::transaction(t.id) != key {
                self.report
                    .violation(format!("transaction {} stored under another key", t.id));
            }
            self.transaction(store, &t)
        })?;
        for (reversal, original) in std::mem::take(&mut self.reversed) {
            if store
                .get::<LedgerTransaction>(&keys::transaction(original))?
                .is_none()
            {
                self.report.violation(format!(
                    "reversal {reversal} reverses missing transaction {original}"
                ));
            }
        }
        Ok(())
    }

    fn transaction(&mut self, store: &Store, t: &LedgerTransaction) -> Result<()> {
        self.report.transactions += 1;
        if !self.references.insert((t.kind, t.reference.clone())) {
            self.report.violation(format!(
                "idempotency key {:?} of a {:?} used by more than one transaction (again in {})",
                t.reference, t.kind, t.id
            ));
        }
        if let Some(original) = t.reverses {
            self.reversed.push((t.id, original));
        }
        let mut sums: BTreeMap<Unit, Totals> = BTreeMap::new();
        let mut seen = HashSet::new();
        for posting in &t.postings {
            self.report.postings += 1;
            sums.entry(posting.unit)
                .or_default()
                .add(posting.side, posting.amount);
            self.report
                .totals
                .entry(posting.unit)
                .or_default()
                .add(posting.side, posting.amount);
            let (totals, count) = self.recomputed.entry(posting.account).or_default();
            totals.add(posting.side, posting.amount);
            *count += 1;
            if posting.amount == 0 || posting.unit != posting.account.kind.unit() {
                self.report
                    .violation(format!("transaction {}: bad posting {posting:?}", t.id));
            }
            if !seen.insert(posting.account) {
                self.report
                    .violation(format!("transaction {}: account twice", t.id));
            }
            let entry: Option<Entry> = store.get(&keys::entry(posting.account, t.id))?;
            if !entry.is_some_and(|e| e.side == posting.side && e.amount == posting.amount) {
                self.report.violation(format!(
                    "transaction {}: no matching entry for {posting:?}",
                    t.id
                ));
            }
        }
        if t.postings.is_empty() {
            self.report
                .violation(format!("transaction {} has no postings", t.id));
        }
        for (unit, sum) in sums {
            if sum.debits != sum.credits {
                self.report.violation(format!(
                    "transaction {}: {unit:?} debits {} ≠ credits {}",
                    t.id, sum.debits, sum.credits
                ));
            }
        }
        Ok(())
    }

    fn accounts(&mut self, store: &Store) -> Result<()> {
        store.for_each(&keys::accounts(), |_, account: Account| {
            self.report.accounts += 1;
            self.account(store, &account)
        })?;
        for id in std::mem::take(&mut self.recomputed).into_keys() {
            self.report
                .violation(format!("account {id:?} has postings but no account record"));
        }
        Ok(())
    }

    fn account(&mut self, store: &Store, account: &Account) -> Result<()> {
        let id = account.id;
        let (totals, postings) = self.recomputed.remove(&id).unwrap_or_default();
        let stored = Totals {
            debits: u128::from(account.debits_posted),
            credits: u128::from(account.credits_posted),
        };
        if totals != stored || postings != account.entries {
            self.report.violation(format!(
                "account {id:?}: stored {stored:?} in {} entries, transactions say {totals:?} in {postings}",
                account.entries
            ));
        }
        if account.flags != id.kind.flags() || account.unit != id.kind.unit() {
            self.report
                .violation(format!("account {id:?}: flags or unit changed"));
        }
        if !account.within_floor() {
            self.report.violation(format!(
                "account {id:?}: balance {} is past its floor (overdraft limit {})",
                account.balance(),
                account.overdraft_limit
            ));
        }
        let mut running = 0i128;
        let mut entries = 0u64;
        store.for_each(&keys::entries_of(id), |_, entry: Entry| {
            entries += 1;
            running += match entry.side {
                Side::Credit => i128::from(entry.amount),
                Side::Debit => -i128::from(entry.amount),
            };
            if i128::from(entry.balance_after) != running {
                self.report.violation(format!(
                    "account {id:?}: entry of {} says balance {}, the entries before it sum to {running}",
                    entry.transaction, entry.balance_after
                ));
            }
            Ok(())
        })?;
        self.report.entries += entries;
        if entries != account.entries {
            self.report.violation(format!(
                "account {id:?}: {entries} entries stored, the account counts {}",
                account.entries
            ));
        }
        Ok(())
    }

    /// Every recorded run with a cost points at its usage transaction.
    fn usage_runs(&mut self, store: &Store) -> Result<()> {
        store.for_each(&keys::usage_runs(), |_, run: UsageRecord| {
            self.report.usage_runs += 1;
            let Some(id) = run.transaction else {
                return Ok(());
            };
            let transaction: Option<LedgerTransaction> = store.get(&keys::transaction(id))?;
            if !transaction.is_some_and(|t| {
                t.kind == TransactionKind::Usage && t.reference == run.run_id.to_string()
            }) {
                self.report.violation(format!(
                    "run {} points at {id}, which is not its usage transaction",
                    run.run_id
                ));
            }
            Ok(())
        })
    }
}
