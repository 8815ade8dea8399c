//! The ledger on a real sled store: postings, floors, seat charges,
//! reversals, thresholds, the verifier, and a property test that drives the
//! real commands through `command::execute` in random interleavings.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::*;
use crate::app::{Actor, App};
use crate::command::{
    self, CreateOrg, GrantCredits, Idempotency, RecordUsage, RegisterResource, SetBilling,
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
    assert_eq!(refused.status().as_u16(), 402);
    assert_eq!(balance(&store, org), 3);
    let report = verify(&store).unwrap();
    assert!(report.ok(), "{}", report.summary());
    assert_eq!((report.transactions, report.entries), (2, 4));
}

#[test]
fn an_overage_cap_lets_the_balance_go_below_zero_down_to_the_cap() {
    let (_dir, store) = temp_store();
    let org = Uuid::new_v4();
    grant(&store, org, 5).unwrap();
    let settings = BillingSettings {
        org,
        period_start: NOW,
        period_end: NOW + Duration::days(30),
        seat_price_cents: 0,
        overage_cap_credits: 10,
        updated_at: NOW,
    };
    store.transact(|tx| set_billing(tx, &settings)).unwrap();
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

// ---- Property test: the real commands in random interleavings ----------

/// One step of a random history.
#[derive(Clone, Debug)]
enum Op {
    Grant {
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
        let app = crate::server::open_app(dir.path(), &policies, 1 << 24, plugins).unwrap();
        (dir, app)
    })
    .1
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
        runs: std::array::from_fn(|_| Uuid::new_v4()),
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
