//! The ledger on a real sled store: postings, floors, seat charges,
//! reversals, thresholds, the verifier, and a property test that drives the
//! real commands through `command::execute` in random interleavings.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::accounts::account;
use super::lots::OpenLots;
use super::posting::{post, transfer, NewTransaction, Posted};
use super::seats::SeatChargeOutcome;
use super::*;
use crate::app::{Actor, App};
use crate::command::{
    self, CreateOrg, GrantCredits, Idempotency, RecordUsage, RegisterResource, ReverseTransaction,
    SetBilling,
};
use crate::error::Error;
use crate::plugin::PluginHost;
use crate::store::Store;

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), 1 << 22).unwrap();
    (dir, store)
}

const NOW: OffsetDateTime = datetime!(2026-05-10 12:00 UTC);

fn credits(org: Uuid) -> AccountId {
    AccountId::org(org, AccountKind::OrgCredits)
}

/// Posts `amount` credits from `debit` to `credit` for `org`.
fn move_credits(
    store: &Store,
    org: Uuid,
    kind: TransactionKind,
    (debit, credit): (AccountId, AccountId),
    amount: u64,
) -> crate::error::Result<Posted> {
    store.transact(|tx| {
        let postings = transfer(debit, credit, amount);
        let reference = Uuid::new_v4().to_string();
        let memo = json!({});
        post(
            tx,
            NewTransaction {
                at: NOW,
                org,
                kind,
                reference,
                reverses: None,
                postings,
                lots: Vec::new(),
                memo,
            },
        )
    })
}

fn grant(store: &Store, org: Uuid, amount: u64) -> crate::error::Result<Posted> {
    let accounts = (AccountId::system(AccountKind::CreditsIssued), credits(org));
    move_credits(store, org, TransactionKind::Grant, accounts, amount)
}

fn spend(store: &Store, org: Uuid, amount: u64) -> crate::error::Result<Posted> {
    let accounts = (credits(org), AccountId::system(AccountKind::CreditsSpent));
    move_credits(store, org, TransactionKind::Usage, accounts, amount)
}

fn balance(store: &Store, org: Uuid) -> i128 {
    store
        .get::<Account>(&keys::account(credits(org)))
        .unwrap()
        .map_or(0, |a| a.balance())
}

#[test]
fn usage_beyond_the_balance_is_refused_and_writes_nothing() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    grant(&store, org, 10).unwrap();
    assert_eq!(spend(&store, org, 7).unwrap().balance(credits(org)), 3);
    let refused = spend(&store, org, 4).err().unwrap();
    assert!(
        matches!(
            refused,
            Error::PaymentRequired {
                code: "insufficient_credits",
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(balance(&store, org), 3);
    let report = verify(&store).unwrap();
    assert!(report.ok(), "{}", report.summary());
    assert_eq!((report.transactions, report.entries), (2, 4));
}

/// Gives `org` billing settings with an overage cap of `cap` credits.
fn allow_overage(store: &Store, org: Uuid, cap: u64) -> BillingSettings {
    let settings = BillingSettings {
        org,
        period_start: NOW,
        period_end: NOW + Duration::days(30),
        seat_price_cents: 0,
        overage_cap_credits: cap,
        updated_at: NOW,
    };
    store.transact(|tx| set_billing(tx, &settings)).unwrap();
    settings
}

#[test]
fn an_overage_cap_lets_the_balance_go_below_zero_down_to_the_cap() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    grant(&store, org, 5).unwrap();
    let settings = allow_overage(&store, org, 10);
    spend(&store, org, 15).unwrap();
    assert_eq!(balance(&store, org), -10);
    assert!(spend(&store, org, 1).is_err());
    let lower = BillingSettings {
        overage_cap_credits: 9,
        ..settings
    };
    let refused = store.transact(|tx| set_billing(tx, &lower)).err().unwrap();
    assert_eq!(refused.code(), "overage_in_use");
    assert!(verify(&store).unwrap().ok());
}

#[test]
fn a_total_that_would_overflow_is_a_conflict_not_a_panic() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    // Balances are reported as i64: totals past it are refused like a u64 overflow.
    grant(&store, org, i64::MAX as u64).unwrap();
    let overflow = grant(&store, org, 1).err().unwrap();
    assert_eq!(overflow.code(), "ledger_overflow");
    assert!(verify(&store).unwrap().ok());
}

fn priced_by() -> PricedBy {
    PricedBy {
        plugin: "builtin".into(),
        version: "0".into(),
        sha256: "builtin".into(),
        reason: "test".into(),
    }
}

fn period(index: i64) -> Period {
    let start = NOW + Duration::days(30 * index);
    Period {
        start,
        end: start + Duration::days(30),
    }
}

fn charge(store: &Store, org: Uuid, user: Uuid, cents: u64, period: Period) -> SeatChargeOutcome {
    store
        .transact(|tx| {
            charge_seat(
                tx,
                NewSeatCharge {
                    org,
                    user,
                    amount_cents: cents,
                    period,
                    reason: "seat beyond the limit".into(),
                    priced_by: priced_by(),
                    at: NOW,
                },
            )
        })
        .unwrap()
}

fn receivable(store: &Store, org: Uuid) -> i128 {
    let id = AccountId::org(org, AccountKind::OrgSeatsReceivable);
    store
        .get::<Account>(&keys::account(id))
        .unwrap()
        .map_or(0, |a| a.balance())
}

#[test]
fn a_seat_is_charged_once_per_user_and_period() {
    let (_dir, store) = temp_store();
    let (org, ann, bob) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    assert!(matches!(
        charge(&store, org, ann, 1500, period(0)),
        SeatChargeOutcome::Charged(_)
    ));
    let again = charge(&store, org, ann, 1500, period(0));
    let SeatChargeOutcome::AlreadyCharged(first) = again else {
        panic!("re-adding in the same period charged again: {again:?}");
    };
    assert_eq!(first.amount_cents, 1500);
    assert!(matches!(
        charge(&store, org, bob, 700, period(0)),
        SeatChargeOutcome::Charged(_)
    ));
    assert!(matches!(
        charge(&store, org, ann, 1500, period(1)),
        SeatChargeOutcome::Charged(_)
    ));
    // Receivable is debit-normal: credits minus debits is what the org owes, negated.
    assert_eq!(receivable(&store, org), -3700);
    let free = charge(&store, org, Uuid::new_v4(), 0, period(0));
    assert!(matches!(
        free,
        SeatChargeOutcome::Charged(SeatCharge {
            transaction: None,
            ..
        })
    ));
    let report = verify(&store).unwrap();
    assert!(report.ok(), "{}", report.summary());
    assert_eq!(report.totals[&Unit::Cents].debits, 3700);
}

#[test]
fn a_reversal_mirrors_a_transaction_once() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    grant(&store, org, 10).unwrap();
    let usage = spend(&store, org, 6).unwrap().transaction.id;
    let reversal = store
        .transact(|tx| reverse(tx, usage, NOW, json!({"reason": "refund"})))
        .unwrap();
    assert_eq!(reversal.transaction.reverses, Some(usage));
    assert_eq!(balance(&store, org), 10);
    let again = store
        .transact(|tx| reverse(tx, usage, NOW, json!({})))
        .err()
        .unwrap();
    assert_eq!(again.code(), "already_reversed");
    let of_reversal = store
        .transact(|tx| reverse(tx, reversal.transaction.id, NOW, json!({})))
        .err()
        .unwrap();
    assert_eq!(of_reversal.code(), "reversal_not_reversible");
    assert!(verify(&store).unwrap().ok());
}

#[test]
fn verify_finds_a_tampered_account_and_a_reused_key() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    grant(&store, org, 10).unwrap();
    store
        .transact(|tx| {
            let mut account = account(tx, credits(org))?;
            account.credits_posted += 1;
            tx.put(&keys::account(credits(org)), &account)
        })
        .unwrap();
    let mut duplicate = None;
    store
        .for_each(&keys::transactions(), |_, t: LedgerTransaction| {
            duplicate = Some(t);
            Ok(())
        })
        .unwrap();
    let mut copy = duplicate.unwrap();
    copy.id = Uuid::now_v7();
    store
        .transact(|tx| tx.put(&keys::transaction(copy.id), &copy))
        .unwrap();
    let report = verify(&store).unwrap();
    assert!(!report.ok());
    let text = report.summary();
    assert!(text.contains("stored"), "{text}");
    assert!(text.contains("idempotency key"), "{text}");
    assert!(text.contains("no matching entry"), "{text}");
}

#[test]
fn usage_crossing_75_and_90_percent_of_the_allowance_records_events() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    let period = period(0);
    let usage = |credits: u64| CountedUsage {
        org,
        workspace: Uuid::nil(),
        run_id: Uuid::new_v4(),
        credits,
        balance: 0,
        period,
        at: NOW,
    };
    store
        .transact(|tx| count_grant(tx, org, period, 100))
        .unwrap();
    let crossed = |credits| {
        store
            .transact(|tx| count_usage(tx, &usage(credits)))
            .unwrap()
    };
    assert_eq!(crossed(74), Vec::<u8>::new());
    assert_eq!(crossed(1), vec![75]);
    assert_eq!(crossed(5), Vec::<u8>::new());
    assert_eq!(crossed(50), vec![90]);
    assert_eq!(
        crossed(50),
        Vec::<u8>::new(),
        "each threshold is signalled once"
    );
    let events = store
        .newest_page::<BalanceEvent>(&keys::events_of(org), None, 10)
        .unwrap();
    let thresholds: Vec<u8> = events.items.iter().map(|e| e.threshold_percent).collect();
    assert_eq!(thresholds, vec![90, 75], "newest first");
}

#[test]
fn periods_roll_by_their_length_and_default_to_the_calendar_month() {
    let settings = BillingSettings {
        org: Uuid::nil(),
        period_start: datetime!(2026-01-01 0:00 UTC),
        period_end: datetime!(2026-01-31 0:00 UTC),
        seat_price_cents: 0,
        overage_cap_credits: 0,
        updated_at: NOW,
    };
    let rolled = period_at(Some(&settings), datetime!(2026-03-05 0:00 UTC));
    assert_eq!(rolled.start, datetime!(2026-03-02 0:00 UTC));
    assert_eq!(rolled.end, datetime!(2026-04-01 0:00 UTC));
    let before = period_at(Some(&settings), datetime!(2025-12-31 23:00 UTC));
    assert_eq!(before.start, datetime!(2025-12-02 0:00 UTC));
    let december = period_at(None, datetime!(2026-12-31 23:59 UTC));
    assert_eq!(december.start, datetime!(2026-12-01 0:00 UTC));
    assert_eq!(december.end, datetime!(2027-01-01 0:00 UTC));
}

// ---- Expiring credits ------------------------------------------------------

const HOUR: Duration = Duration::hours(1);

/// Grants `credits` to `org` at `at`, expiring at `expires_at` (or never).
fn grant_until(
    store: &Store,
    org: Uuid,
    credits: u64,
    expires_at: Option<OffsetDateTime>,
    at: OffsetDateTime,
) -> crate::error::Result<(Uuid, Posted)> {
    let id = Uuid::new_v4();
    let posted = store.transact(|tx| {
        let memo = json!({});
        let grant = NewGrant {
            id,
            org,
            credits,
            expires_at,
            at,
            memo,
        };
        crate::ledger::grant(tx, grant)
    })?;
    Ok((id, posted))
}

/// A run of `credits` at `at`.
fn spend_at(
    store: &Store,
    org: Uuid,
    credits: u64,
    at: OffsetDateTime,
) -> crate::error::Result<Posted> {
    store.transact(|tx| {
        let reference = Uuid::new_v4().to_string();
        let memo = json!({});
        let run = NewSpend {
            org,
            reference,
            credits,
            at,
            memo,
        };
        crate::ledger::spend(tx, run)
    })
}

fn open_lots_of(store: &Store, org: Uuid) -> Vec<(Uuid, u64)> {
    let open: OpenLots = store
        .get(&keys::open_lots(org))
        .unwrap()
        .unwrap_or_default();
    open.lots.iter().map(|l| (l.lot, l.remaining)).collect()
}

fn lot(store: &Store, org: Uuid, id: Uuid) -> CreditLot {
    store.get(&keys::lot(org, id)).unwrap().unwrap()
}

fn reports(store: &Store, org: Uuid) -> Reports<'_> {
    Reports { store, org }
}

fn assert_verified(store: &Store) -> VerifyReport {
    let report = verify(store).unwrap();
    assert!(report.ok(), "{}", report.summary());
    report
}

#[test]
fn runs_spend_the_soonest_expiring_credits_first_and_the_rest_expires() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    let (later, _) = grant_until(&store, org, 10, Some(NOW + 48 * HOUR), NOW).unwrap();
    let (sooner, _) = grant_until(&store, org, 10, Some(NOW + 24 * HOUR), NOW).unwrap();
    grant_until(&store, org, 10, None, NOW).unwrap();

    let run = spend_at(&store, org, 15, NOW).unwrap();
    assert_eq!(run.balance(credits(org)), 15);
    let drawn: Vec<(Uuid, u64)> = run
        .transaction
        .lots
        .iter()
        .map(|p| (p.lot, p.amount))
        .collect();
    assert_eq!(drawn, [(sooner, 10), (later, 5)], "soonest expiry first");
    assert_eq!(open_lots_of(&store, org), [(later, 5)]);

    // Past `later`'s expiry a read no longer counts its 5 credits, and writes nothing.
    let past = NOW + 72 * HOUR;
    let report = reports(&store, org).balance(past).unwrap();
    assert_eq!((report.credits, report.expiring.len()), (10, 0));
    assert_eq!(balance(&store, org), 15, "a read does not post the expiry");

    // The next run posts it first: only the credits that never expire pay.
    assert_eq!(
        spend_at(&store, org, 1, past)
            .unwrap()
            .balance(credits(org)),
        9
    );
    assert_eq!(lot(&store, org, later).expired, 5);
    assert_eq!(open_lots_of(&store, org), []);
    let expired = AccountId::system(AccountKind::CreditsExpired);
    let expired: Account = store.get(&keys::account(expired)).unwrap().unwrap();
    assert_eq!(expired.balance(), 5);
    let report = assert_verified(&store);
    assert_eq!((report.credit_lots, report.transactions), (2, 6));
}

#[test]
fn expired_credits_pay_for_nothing_and_a_refused_run_expires_nothing() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    let (lot_id, _) = grant_until(&store, org, 10, Some(NOW + HOUR), NOW).unwrap();
    let later = NOW + 2 * HOUR;
    let refused = spend_at(&store, org, 5, later).err().unwrap();
    assert_eq!(refused.code(), "insufficient_credits");
    assert_eq!(
        open_lots_of(&store, org),
        [(lot_id, 10)],
        "the refused run's transaction wrote nothing, not even the expiry"
    );
    // A grant is a write that touches the org's credits: it posts the expiry.
    let (_, posted) = grant_until(&store, org, 3, None, later).unwrap();
    assert_eq!(posted.balance(credits(org)), 3);
    assert_eq!(lot(&store, org, lot_id).expired, 10);
    assert_verified(&store);
}

#[test]
fn a_grant_repays_the_overage_before_filling_its_lot() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    allow_overage(&store, org, 10);
    spend_at(&store, org, 6, NOW).unwrap();
    let (lot_id, posted) = grant_until(&store, org, 10, Some(NOW + HOUR), NOW).unwrap();
    assert_eq!(posted.balance(credits(org)), 4);
    assert_eq!(open_lots_of(&store, org), [(lot_id, 4)]);
    let (_, posted) = grant_until(&store, org, 1, None, NOW + 2 * HOUR).unwrap();
    assert_eq!(posted.balance(credits(org)), 1, "the lot's 4 expired");
    assert_verified(&store);
}

#[test]
fn reversals_return_a_runs_credits_to_their_lots_and_refuse_what_expired() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    let (lot_id, grant) = grant_until(&store, org, 10, Some(NOW + HOUR), NOW).unwrap();
    let undo = |id: Uuid, at| store.transact(|tx| reverse(tx, id, at, json!({})));

    let run = spend_at(&store, org, 4, NOW).unwrap().transaction.id;
    undo(run, NOW).unwrap();
    assert_eq!(
        open_lots_of(&store, org),
        [(lot_id, 10)],
        "returned to the lot"
    );
    let run = spend_at(&store, org, 4, NOW).unwrap().transaction.id;

    // After the expiry the returned credits expire too, in the same transaction.
    let later = NOW + 2 * HOUR;
    undo(run, later).unwrap();
    let lot = lot(&store, org, lot_id);
    assert_eq!((lot.remaining, lot.expired, lot.expiries), (0, 10, 2));
    assert_eq!(balance(&store, org), 0);

    let refused = undo(grant.transaction.id, later).err().unwrap();
    assert_eq!(refused.code(), "grant_expired");
    let mut expiry = None;
    store
        .for_each(&keys::transactions(), |_, t: LedgerTransaction| {
            if t.kind == TransactionKind::Expiry {
                expiry = Some(t.id);
            }
            Ok(())
        })
        .unwrap();
    let refused = undo(expiry.unwrap(), later).err().unwrap();
    assert_eq!(refused.code(), "expiry_not_reversible");
    assert_verified(&store);
}

#[test]
fn a_reversed_grant_takes_back_its_lot_then_credits_that_never_expire() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    let (_, plain) = grant_until(&store, org, 10, None, NOW).unwrap();
    let (lot_id, expiring) = grant_until(&store, org, 10, Some(NOW + HOUR), NOW).unwrap();
    spend_at(&store, org, 4, NOW).unwrap();
    let undo = |id: Uuid| store.transact(|tx| reverse(tx, id, NOW, json!({})));

    // 10 never expire, 6 of the lot are left: reversing the plain grant takes
    // the 10 that never expire, and the lot keeps its 6.
    undo(plain.transaction.id).unwrap();
    assert_eq!(open_lots_of(&store, org), [(lot_id, 6)]);
    assert_eq!(balance(&store, org), 6);
    let refused = undo(expiring.transaction.id).err().unwrap();
    assert_eq!(
        refused.code(),
        "insufficient_credits",
        "the lot's 4 spent credits"
    );
    assert_verified(&store);
}

#[test]
fn an_org_has_at_most_max_open_lots() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    for n in 0..MAX_OPEN_LOTS {
        let expires_at = NOW + HOUR + Duration::seconds(n as i64);
        grant_until(&store, org, 1, Some(expires_at), NOW).unwrap();
    }
    let refused = grant_until(&store, org, 1, Some(NOW + HOUR), NOW)
        .err()
        .unwrap();
    assert_eq!(refused.code(), "too_many_open_lots");
    assert!(refused.to_string().contains("MAX_OPEN_LOTS"), "{refused}");
    grant_until(&store, org, 1, None, NOW).unwrap();
    assert_verified(&store);
}

#[test]
fn verify_finds_a_lot_that_disagrees_with_its_transactions() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    let (lot_id, _) = grant_until(&store, org, 10, Some(NOW + HOUR), NOW).unwrap();
    let mut tampered = lot(&store, org, lot_id);
    tampered.remaining = 7;
    store
        .transact(|tx| tx.put(&keys::lot(org, lot_id), &tampered))
        .unwrap();
    let text = verify(&store).unwrap().summary();
    assert!(
        text.contains(&format!("lot {lot_id}: stored remaining 7")),
        "{text}"
    );
}

// ---- Property test: the real commands in random interleavings ----------

/// One step of a random history.
#[derive(Clone, Debug)]
enum Op {
    Grant {
        credits: u64,
    },
    /// A grant whose credits expire in a day (after the test): runs spend them first.
    ExpiringGrant {
        credits: u64,
    },
    /// A grant sent with one of a few `Idempotency-Key`s: repeats are retries.
    KeyedGrant {
        key: u8,
        credits: u64,
    },
    /// Runs come from a small pool, so many posts are retries.
    Usage {
        run: u8,
        credits: u64,
    },
    Seat {
        user: u8,
        cents: u64,
        period: u8,
    },
    SetCap {
        cap: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1..60u64).prop_map(|credits| Op::Grant { credits }),
        (1..60u64).prop_map(|credits| Op::ExpiringGrant { credits }),
        (0..3u8, 1..60u64).prop_map(|(key, credits)| Op::KeyedGrant { key, credits }),
        (0..12u8, 0..25u64).prop_map(|(run, credits)| Op::Usage { run, credits }),
        (0..4u8, 0..2000u64, 0..2u8).prop_map(|(user, cents, period)| Op::Seat {
            user,
            cents,
            period
        }),
        (0..30u64).prop_map(|cap| Op::SetCap { cap }),
    ]
}

/// What the ledger of one org must say after the steps so far.
#[derive(Default)]
struct Model {
    balance: i128,
    cap: u64,
    runs: HashMap<u8, u64>,
    keyed_grants: HashMap<u8, u64>,
    seats: HashSet<(u8, u8)>,
    receivable: i128,
}

/// One org with a flow, on an app shared by every case.
struct Tenant {
    org: Uuid,
    workspace: Uuid,
    flow: Uuid,
    runs: [Uuid; 12],
    users: [Uuid; 4],
}

fn shared_app() -> &'static App {
    static APP: std::sync::OnceLock<(tempfile::TempDir, App)> = std::sync::OnceLock::new();
    &APP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let policies = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let plugins = PluginHost::builtin().unwrap();
        let app = crate::server::open_app(
            &crate::store::StoreLocation::in_data_dir(dir.path()),
            &policies,
            1 << 24,
            plugins,
        )
        .unwrap();
        (dir, app)
    })
    .1
}

/// Run ids every tenant uses: the write path keys runs per org, so each
/// org may reuse another's (and verify must not mind).
fn shared_runs() -> &'static [Uuid; 12] {
    static RUNS: std::sync::OnceLock<[Uuid; 12]> = std::sync::OnceLock::new();
    RUNS.get_or_init(|| std::array::from_fn(|_| Uuid::new_v4()))
}

fn parse<C: serde::de::DeserializeOwned>(body: serde_json::Value) -> C {
    serde_json::from_value(body).unwrap()
}

fn tenant(app: &App) -> Tenant {
    let org = command::execute(
        app,
        Actor::System,
        None,
        parse::<CreateOrg>(json!({"name": "Acme", "plan": "pro"})),
    )
    .unwrap();
    let workspace = org.default_workspace.unwrap();
    let mut flow: RegisterResource = parse(json!({"type": "Flow", "attributes": {"name": "flow"}}));
    (flow.org, flow.workspace) = (org.id, workspace);
    let flow = command::execute(app, Actor::System, None, flow).unwrap();
    Tenant {
        org: org.id,
        workspace,
        flow: flow.id,
        runs: *shared_runs(),
        users: std::array::from_fn(|_| Uuid::new_v4()),
    }
}

fn step(app: &App, t: &Tenant, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    match *op {
        Op::Grant { credits } => {
            let mut grant: GrantCredits = parse(json!({"credits": credits, "source": "purchase"}));
            grant.org = t.org;
            command::execute(app, Actor::System, None, grant).unwrap();
            model.balance += i128::from(credits);
        }
        Op::ExpiringGrant { credits } => {
            let expires_at = OffsetDateTime::now_utc() + Duration::days(1);
            let mut grant: GrantCredits = parse(json!({
                "credits": credits, "source": "promotional",
                "expires_at": expires_at.format(&time::format_description::well_known::Rfc3339).unwrap(),
            }));
            grant.org = t.org;
            command::execute(app, Actor::System, None, grant).unwrap();
            model.balance += i128::from(credits);
        }
        Op::KeyedGrant { key, credits } => {
            let body = json!({"credits": credits, "source": "promotional"});
            // Keys are per actor (all cases act as the system): make them this tenant's.
            let scoped = format!("{}-grant-{key}", t.org);
            let idempotency =
                Idempotency::new(&scoped, "POST", "/credits", body.to_string().as_bytes()).unwrap();
            let mut grant: GrantCredits = parse(body);
            grant.org = t.org;
            let answer = command::execute(app, Actor::System, Some(&idempotency), grant);
            match model.keyed_grants.get(&key) {
                None => {
                    answer.unwrap();
                    model.keyed_grants.insert(key, credits);
                    model.balance += i128::from(credits);
                }
                Some(&first) if first == credits => prop_assert_eq!(answer.unwrap().credits, first),
                Some(_) => prop_assert_eq!(answer.err().unwrap().code(), "idempotency_key_reused"),
            }
        }
        Op::Usage { run, credits } => {
            let mut usage: RecordUsage = parse(json!({
                "workspace": t.workspace, "flow": t.flow, "run_id": t.runs[usize::from(run)], "credits": credits,
            }));
            usage.org = t.org;
            let answer = command::execute(app, Actor::System, None, usage);
            match model.runs.get(&run) {
                Some(&first) if first == credits => prop_assert_eq!(answer.unwrap().credits, first),
                Some(_) => prop_assert_eq!(answer.err().unwrap().code(), "run_already_recorded"),
                None if model.balance - i128::from(credits) >= -i128::from(model.cap) => {
                    let record = answer.unwrap();
                    model.balance -= i128::from(credits);
                    prop_assert_eq!(i128::from(record.balance_after), model.balance);
                    model.runs.insert(run, credits);
                }
                None => prop_assert_eq!(answer.err().unwrap().code(), "insufficient_credits"),
            }
        }
        Op::Seat {
            user,
            cents,
            period: index,
        } => {
            let outcome = charge(
                &app.store,
                t.org,
                t.users[usize::from(user)],
                cents,
                period(i64::from(index)),
            );
            if model.seats.insert((user, index)) {
                prop_assert!(matches!(outcome, SeatChargeOutcome::Charged(_)));
                model.receivable -= i128::from(cents);
            } else {
                prop_assert!(matches!(outcome, SeatChargeOutcome::AlreadyCharged(_)));
            }
        }
        Op::SetCap { cap } => {
            let mut billing: SetBilling = parse(json!({
                "period_start": "2026-05-01T00:00:00Z", "period_end": "2026-06-01T00:00:00Z",
                "seat_price_cents": 1000, "overage_cap_credits": cap,
            }));
            billing.org = t.org;
            let answer = command::execute(app, Actor::System, None, billing);
            if model.balance >= -i128::from(cap) {
                answer.unwrap();
                model.cap = cap;
            } else {
                prop_assert_eq!(answer.err().unwrap().code(), "overage_in_use");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_keep_the_ledger_sound(ops in proptest::collection::vec(op(), 1..40)) {
        let app = shared_app();
        let t = tenant(app);
        let mut model = Model::default();
        for op in &ops {
            step(app, &t, &mut model, op)?;
            let balance = balance(&app.store, t.org);
            prop_assert_eq!(balance, model.balance, "after {:?}", op);
            prop_assert!(balance >= -i128::from(model.cap), "below the floor after {:?}", op);
            prop_assert_eq!(receivable(&app.store, t.org), model.receivable);
        }
        let report = verify(&app.store).unwrap();
        prop_assert!(report.ok(), "{}", report.summary());
    }
}

#[test]
fn reversing_a_run_or_a_grant_takes_it_out_of_its_period_counters() {
    let app = shared_app();
    let t = tenant(app);
    let grant = |credits: u64| {
        let mut grant: GrantCredits = parse(json!({"credits": credits, "source": "purchase"}));
        grant.org = t.org;
        command::execute(app, Actor::System, None, grant).unwrap()
    };
    let run = |n: usize, credits: u64| {
        let mut usage: RecordUsage = parse(json!({
            "workspace": t.workspace, "flow": t.flow, "run_id": t.runs[n], "credits": credits,
        }));
        usage.org = t.org;
        command::execute(app, Actor::System, None, usage).unwrap()
    };
    let undo = |transaction: Uuid| {
        let mut reversal: ReverseTransaction = parse(json!({"reason": "refund"}));
        (reversal.transaction, reversal.org) = (transaction, t.org);
        command::execute(app, Actor::System, None, reversal).unwrap()
    };
    grant(100);
    let first = run(0, 80);
    assert_eq!(first.thresholds_crossed, [75]);
    run(1, 5);
    undo(first.transaction.unwrap());
    let reports = Reports {
        store: &app.store,
        org: t.org,
    };
    let usage = reports.usage(first.at, None, 10).unwrap();
    let summary = &usage.summary;
    assert_eq!((summary.used_credits, summary.runs), (5, 1));
    assert!(summary.thresholds_crossed.is_empty(), "{summary:?}");
    let workspace = &usage.workspaces.items[0];
    assert_eq!((workspace.credits, workspace.runs), (5, 1));
    assert_eq!(
        run(2, 75).thresholds_crossed,
        [75],
        "a threshold the reversal took back signals again"
    );

    let extra = grant(50);
    assert_eq!(
        reports
            .usage(first.at, None, 10)
            .unwrap()
            .summary
            .allowance_credits,
        150
    );
    undo(extra.transaction);
    let summary = reports.usage(first.at, None, 10).unwrap().summary;
    assert_eq!((summary.allowance_credits, summary.used_credits), (100, 80));
    assert_eq!(reports.balance(first.at).unwrap().credits, 20);
    assert_verified(&app.store);
}

// ---- Commit order ----------------------------------------------------------

/// Posts a run of `credits` with id `run` for tenant `t` through the real command.
fn record_run(app: &App, t: &Tenant, run: Uuid, credits: u64) -> UsageRecord {
    let mut usage: RecordUsage = parse(json!({
        "workspace": t.workspace, "flow": t.flow, "run_id": run, "credits": credits,
    }));
    usage.org = t.org;
    command::execute(app, Actor::System, None, usage).unwrap()
}

#[test]
fn one_run_id_in_two_orgs_is_two_runs_and_verifies_clean() {
    let app = shared_app();
    let run = Uuid::new_v4();
    for (t, credits) in [(tenant(app), 3), (tenant(app), 5)] {
        let mut grant: GrantCredits = parse(json!({"credits": 10, "source": "purchase"}));
        grant.org = t.org;
        command::execute(app, Actor::System, None, grant).unwrap();
        let record = record_run(app, &t, run, credits);
        assert_eq!(record.balance_after, 10 - credits as i64);
        assert_eq!(balance(&app.store, t.org), i128::from(10 - credits));
    }
    assert_verified(&app.store);
}

#[test]
fn a_reused_reference_within_one_org_is_a_violation() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    let run = || NewSpend {
        org,
        reference: "run-1".to_string(),
        credits: 1,
        at: NOW,
        memo: json!({}),
    };
    grant_until(&store, org, 10, None, NOW).unwrap();
    store
        .transact(|tx| crate::ledger::spend(tx, run()))
        .unwrap();
    let other = Uuid::new_v4();
    grant_until(&store, other, 10, None, NOW).unwrap();
    store
        .transact(|tx| {
            crate::ledger::spend(
                tx,
                NewSpend {
                    org: other,
                    ..run()
                },
            )
        })
        .unwrap();
    assert_verified(&store);
    store
        .transact(|tx| crate::ledger::spend(tx, run()))
        .unwrap();
    let text = verify(&store).unwrap().summary();
    assert!(text.contains("1 violations"), "{text}");
    assert!(
        text.contains(&format!("\"run-1\" of a Usage of org {org}")),
        "{text}"
    );
}

#[test]
fn a_clock_stepping_back_verifies_clean() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    let later = NOW + 3 * HOUR;
    let (early_lot, _) = grant_until(&store, org, 10, Some(NOW + 2 * HOUR), NOW).unwrap();
    grant_until(&store, org, 10, None, NOW).unwrap();
    let first_run = spend_at(&store, org, 4, NOW).unwrap().transaction;
    // Expires what is left of the early lot.
    let before_the_step = spend_at(&store, org, 1, later).unwrap().transaction;
    // The clock steps back to before the first grant.
    let earlier = NOW - HOUR;
    let (late_lot, grant) = grant_until(&store, org, 10, Some(NOW + HOUR), earlier).unwrap();
    assert!(
        grant.transaction.id < first_run.id,
        "ids follow the clock back"
    );
    assert!(grant.transaction.sequence > before_the_step.sequence);
    let after_the_step = spend_at(&store, org, 7, earlier).unwrap().transaction;
    assert_eq!(after_the_step.lots[0].lot, late_lot);
    store
        .transact(|tx| reverse(tx, first_run.id, earlier, json!({})))
        .unwrap();
    assert_eq!(
        lot(&store, org, early_lot).remaining,
        4,
        "refilled, not yet due"
    );
    assert_eq!(balance(&store, org), 10 + 10 - 4 - 6 - 1 + 10 - 7 + 4);
    let report = assert_verified(&store);
    assert_eq!(report.transactions, 8);
}

#[test]
fn transactions_from_before_sequences_are_replayed_first() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    // An old store: a grant with no sequence, and no counter.
    let (_, old) = grant_until(&store, org, 10, None, NOW + HOUR).unwrap();
    let old = LedgerTransaction {
        sequence: None,
        ..old.transaction
    };
    store
        .transact(|tx| {
            tx.put(&keys::transaction(old.id), &old)?;
            tx.remove(&keys::sequence())
        })
        .unwrap();
    let run = spend_at(&store, org, 4, NOW).unwrap().transaction;
    assert_eq!(run.sequence, Some(1));
    assert!(run.id < old.id, "the run's id sorts first");
    assert_verified(&store);
}

#[test]
fn verify_finds_a_sequence_counter_behind_its_transactions() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    grant(&store, org, 10).unwrap();
    spend(&store, org, 4).unwrap();
    store
        .transact(|tx| tx.put(&keys::sequence(), &1u64))
        .unwrap();
    let text = verify(&store).unwrap().summary();
    assert!(text.contains("the sequence counter is Some(1)"), "{text}");
}

proptest! {
    #[test]
    fn transaction_ids_sort_by_millisecond_then_sequence(
        millis in (0i64..1 << 40, 0i64..1 << 40),
        sequences in (1u64.., 1u64..),
    ) {
        let at = |ms: i64| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
        let first = super::posting::transaction_id(at(millis.0), sequences.0);
        let second = super::posting::transaction_id(at(millis.1), sequences.1);
        prop_assert_eq!(first.get_version_num(), 7);
        prop_assert_eq!(first.get_variant(), uuid::Variant::RFC4122);
        prop_assert_eq!(first.cmp(&second), (millis.0, sequences.0).cmp(&(millis.1, sequences.1)));
    }
}
