//! `warden ledger verify` and `GET /v1/ledger/verify`: recomputes every
//! account from the transactions and checks the invariants the write path
//! keeps. It replays the transactions in commit order (their `sequence`;
//! transactions from before sequences existed first, by id), never by
//! their clock, so a clock that stepped back reads as sound. The one place
//! that reads the whole ledger; it runs while no transaction commits (see
//! `Store::quiesced`).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use uuid::Uuid;

use super::keys;
use super::lots::{self, OpenLots};
use super::model::{
    Account, AccountId, AccountKind, CreditLot, Entry, LedgerTransaction, LotPosting, OpenLot,
    Side, TransactionKind, Unit, UsageRecord,
};
use crate::error::{Error, Result};
use crate::store::Store;

/// The most violations a report lists (it counts them all).
pub const MAX_REPORTED_VIOLATIONS: usize = 100;

/// What verify found.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    /// Transactions replayed.
    pub transactions: u64,
    /// Postings in them.
    pub postings: u64,
    /// Accounts checked against the replay.
    pub accounts: u64,
    /// Account entries checked.
    pub entries: u64,
    /// Recorded flow runs checked against their transactions.
    pub usage_runs: u64,
    /// Grants made with an expiry.
    pub credit_lots: u64,
    /// Σ of all postings per unit; debits equal credits in a sound ledger.
    pub totals: BTreeMap<Unit, Totals>,
    /// Broken invariants found; 0 for a sound ledger.
    pub violation_count: u64,
    /// The first [`MAX_REPORTED_VIOLATIONS`] of them, one sentence each.
    pub violations: Vec<String>,
}

/// The sums of one unit's postings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    /// All debits, in the unit.
    pub debits: u128,
    /// All credits, in the unit.
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
    /// Whether the ledger is sound: no violation found.
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
            "{} transactions, {} postings, {} accounts, {} entries, {} usage runs, {} credit lots",
            self.transactions,
            self.postings,
            self.accounts,
            self.entries,
            self.usage_runs,
            self.credit_lots
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
        verifier.lots(store)?;
        Ok(verifier.report)
    })?
}

#[derive(Default)]
struct Verifier {
    report: VerifyReport,
    /// Per account, recomputed from the transactions: totals and postings.
    recomputed: HashMap<AccountId, (Totals, u64)>,
    /// Per transaction id, its place in the commit order.
    positions: HashMap<Uuid, usize>,
    /// (org, kind, reference) of every transaction: the write path keys
    /// each kind's references per org (runs are `org | run`, lots `org |
    /// grant`, seat charges `org | period | user`).
    references: HashSet<(Uuid, TransactionKind, String)>,
    reversed: Vec<(Uuid, Uuid)>,
    /// Per lot: its stored record and its state replayed from the transactions.
    lots: HashMap<Uuid, (CreditLot, Replayed)>,
    /// Per org: the balance of its credit account.
    credit_balances: HashMap<Uuid, i128>,
}

/// A transaction's place in the commit order: its sequence (`None` before
/// sequences existed), its id, and the key it is stored under.
type Place = (Option<u64>, Uuid, Vec<u8>);

/// A lot as its transactions' lot postings leave it.
#[derive(Default)]
struct Replayed {
    remaining: u64,
    expired: u64,
    expiries: u32,
}

impl Verifier {
    fn transactions(&mut self, store: &Store) -> Result<()> {
        let order = self.commit_order(store)?;
        for (_, id, key) in &order {
            let t: LedgerTransaction = store
                .get(key)?
                .ok_or_else(|| Error::Internal(format!("transaction {id} vanished")))?;
            self.transaction(store, &t)?;
        }
        self.positions = order
            .into_iter()
            .enumerate()
            .map(|(position, (_, id, _))| (id, position))
            .collect();
        for (reversal, original) in std::mem::take(&mut self.reversed) {
            if store
                .get::<LedgerTransaction>(&keys::transaction(original))?
                .is_none()
            {
                self.report.violation(format!(
                    "reversal {reversal} reverses missing transaction {original}"
                ));
            }
            let indexed: Option<Uuid> = store.get(&keys::reversal(original))?;
            if indexed != Some(reversal) {
                self.report.violation(format!(
                    "reversal {reversal} of {original}: the reversal index says {indexed:?}"
                ));
            }
        }
        Ok(())
    }

    /// Every transaction's (sequence, id, key), in commit order; checks
    /// that each is stored under its id, that no two share a sequence, and
    /// that the counter is the last sequence handed out.
    fn commit_order(&mut self, store: &Store) -> Result<Vec<Place>> {
        let mut order = Vec::new();
        store.for_each(&keys::transactions(), |key, t: LedgerTransaction| {
            if keys::transaction(t.id) != key {
                self.report
                    .violation(format!("transaction {} stored under another key", t.id));
            }
            order.push((t.sequence, t.id, key.to_vec()));
            Ok(())
        })?;
        order.sort_unstable();
        for pair in order.windows(2) {
            if let [(Some(sequence), first, _), (Some(again), second, _)] = pair {
                if sequence == again {
                    self.report.violation(format!(
                        "transactions {first} and {second} share sequence number {sequence}"
                    ));
                }
            }
        }
        let last = order.last().and_then(|(sequence, ..)| *sequence);
        let counter: Option<u64> = store.get(&keys::sequence())?;
        if counter != last {
            self.report.violation(format!(
                "the sequence counter is {counter:?}, the last transaction's sequence {last:?}"
            ));
        }
        Ok(order)
    }

    fn transaction(&mut self, store: &Store, t: &LedgerTransaction) -> Result<()> {
        self.report.transactions += 1;
        if !self.references.insert((t.org, t.kind, t.reference.clone())) {
            self.report.violation(format!(
                "idempotency key {:?} of a {:?} of org {} used by more than one transaction (again in {})",
                t.reference, t.kind, t.org, t.id
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
        self.replay_lots(store, t)?;
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

    /// Applies `t`'s lot postings to the replayed lots and checks what
    /// they can check alone: a run draws the soonest-expiring credits first
    /// (by `lots::draw`, the rule itself), no posting takes more than its
    /// lot holds, an expiry empties its lot at or after `expires_at`, a
    /// grant credits only its own lot.
    fn replay_lots(&mut self, store: &Store, t: &LedgerTransaction) -> Result<()> {
        let credits = AccountId::org(t.org, AccountKind::OrgCredits);
        let amount = t
            .postings
            .iter()
            .find(|p| p.account == credits)
            .map_or(0, |p| p.amount);
        if t.kind == TransactionKind::Usage {
            let spendable = self.open_lots(t.org, |l| l.expires_at > t.at);
            if t.lots != lots::draw(&spendable, amount, 0) {
                self.report.violation(format!(
                    "usage {}: its lot postings {:?} are not the soonest-expiring credits first",
                    t.id, t.lots
                ));
            }
        }
        let lot_total = t
            .lots
            .iter()
            .try_fold(0u64, |sum, p| sum.checked_add(p.amount));
        if lot_total.is_none_or(|total| total > amount) {
            let moved = lot_total.map_or("more than u64::MAX".into(), |total| total.to_string());
            self.report.violation(format!(
                "transaction {}: lot postings move {moved} credits of its {amount}",
                t.id
            ));
        }
        for posting in &t.lots {
            self.replay_lot(store, t, posting)?;
        }
        Ok(())
    }

    fn replay_lot(&mut self, store: &Store, t: &LedgerTransaction, p: &LotPosting) -> Result<()> {
        if !self.lots.contains_key(&p.lot) {
            let Some(record) = store.get::<CreditLot>(&keys::lot(t.org, p.lot))? else {
                self.report.violation(format!(
                    "transaction {}: lot {} of org {} has no record",
                    t.id, p.lot, t.org
                ));
                return Ok(());
            };
            self.lots.insert(p.lot, (record, Replayed::default()));
        }
        let (record, replayed) = self.lots.get_mut(&p.lot).expect("inserted above");
        let mut problems = Vec::new();
        match p.side {
            Side::Credit => match replayed.remaining.checked_add(p.amount) {
                Some(remaining) => replayed.remaining = remaining,
                None => problems.push(format!("adds {} past u64", p.amount)),
            },
            Side::Debit if p.amount > replayed.remaining => problems.push(format!(
                "takes {} from {} left",
                p.amount, replayed.remaining
            )),
            Side::Debit => replayed.remaining -= p.amount,
        }
        match t.kind {
            TransactionKind::Expiry => {
                replayed.expired = replayed.expired.saturating_add(p.amount);
                replayed.expiries += 1;
                if t.at < record.expires_at || replayed.remaining != 0 || p.side != Side::Debit {
                    problems.push(format!(
                        "expiry at {} of a lot expiring at {} leaves {}",
                        t.at, record.expires_at, replayed.remaining
                    ));
                }
            }
            TransactionKind::Grant if t.reference != p.lot.to_string() => {
                problems.push("a grant credits another grant's lot".to_string());
            }
            _ => {}
        }
        for problem in problems {
            self.report
                .violation(format!("transaction {}, lot {}: {problem}", t.id, p.lot));
        }
        Ok(())
    }

    /// The replayed open lots of `org` that pass `keep`, soonest expiry first.
    fn open_lots(&self, org: Uuid, keep: impl Fn(&OpenLot) -> bool) -> Vec<OpenLot> {
        let mut open: Vec<OpenLot> = self
            .lots
            .values()
            .filter(|(record, replayed)| record.org == org && replayed.remaining > 0)
            .map(|(record, replayed)| OpenLot {
                lot: record.id,
                expires_at: record.expires_at,
                remaining: replayed.remaining,
            })
            .filter(keep)
            .collect();
        open.sort_by_key(|l| (l.expires_at, l.lot));
        open
    }

    /// Every lot record and every org's index of open lots agree with the
    /// replayed lots; no org has lots left while its other credits are in
    /// overage.
    fn lots(&mut self, store: &Store) -> Result<()> {
        store.for_each(&keys::lots(), |_, lot: CreditLot| {
            self.report.credit_lots += 1;
            let (remaining, expired, expiries) = match self.lots.get(&lot.id) {
                Some((_, r)) => (r.remaining, r.expired, r.expiries),
                None => (0, 0, 0),
            };
            if (lot.remaining, lot.expired, lot.expiries) != (remaining, expired, expiries) {
                self.report.violation(format!(
                    "lot {}: stored remaining {} expired {} in {} expiries, transactions say {remaining}, {expired} in {expiries}",
                    lot.id, lot.remaining, lot.expired, lot.expiries
                ));
            }
            Ok(())
        })?;
        let orgs: HashSet<Uuid> = self.lots.values().map(|(record, _)| record.org).collect();
        let mut indexed = HashSet::new();
        store.for_each(&keys::all_open_lots(), |key, index: OpenLots| {
            let org = crate::store::keys::trailing_uuid(key);
            indexed.insert(org);
            self.org_lots(org, &index.lots);
            Ok(())
        })?;
        for org in orgs.difference(&indexed) {
            self.org_lots(*org, &[]);
        }
        Ok(())
    }

    fn org_lots(&mut self, org: Uuid, indexed: &[OpenLot]) {
        let open = self.open_lots(org, |_| true);
        if open != indexed {
            self.report.violation(format!(
                "org {org}: index of open lots {indexed:?}, transactions say {open:?}"
            ));
        }
        let in_lots: i128 = open.iter().map(|l| i128::from(l.remaining)).sum();
        let balance = self.credit_balances.get(&org).copied().unwrap_or(0);
        if in_lots > balance.max(0) {
            self.report.violation(format!(
                "org {org}: {in_lots} credits in lots but a balance of {balance}"
            ));
        }
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
        if id.kind == AccountKind::OrgCredits {
            self.credit_balances.insert(id.owner, account.balance());
        }
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
        let mut entries = Vec::new();
        store.for_each(&keys::entries_of(id), |_, entry: Entry| {
            entries.push(entry);
            Ok(())
        })?;
        // Commit order; an entry of no transaction (reported by the count) last.
        entries.sort_by_key(|e| {
            self.positions
                .get(&e.transaction)
                .copied()
                .unwrap_or(usize::MAX)
        });
        let mut running = 0i128;
        for entry in &entries {
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
        }
        let entries = entries.len() as u64;
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
