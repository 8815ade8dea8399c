//! Credits, usage, balances, billing settings, seat charges and the ledger
//! verifier. Reads need `ViewBilling` on the org (admins by default).

use axum::extract::{RawQuery, State};
use axum::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::common::{visible_org, PageQuery, RoutedCommand};
use super::endpoint::{self, endpoint, Body, Endpoint, Takes};
use super::extract::{path_id, ActingUser, ApiPath};
use super::ApiState;
use crate::app::Actor;
use crate::command::{require_system, GrantCredits, RecordUsage, ReverseTransaction, SetBilling};
use crate::error::Error;
use crate::ledger::{
    self, keys, AccountId, AccountKind, BalanceEvent, BalanceReport, BillingSettings, Entry,
    LedgerTransaction, Reports, SeatCharge, UsageReport, VerifyReport,
};
use crate::store::Page;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint!(
            Post "/v1/orgs/{id}/credits" => command GrantCredits, 201,
            "Grant credits (system actor only): `{\"credits\", \"source\", \"memo\"?, \"expires_at\"?}`",
            r#"{"credits": 5000, "source": "purchase", "memo": "invoice 1042"}"#,
            Body::Any,
            endpoint::WRITE,
        ),
        endpoint!(
            Get "/v1/orgs/{id}/usage" => current_usage,
            "Usage of the current period: totals and per workspace (ViewBilling)",
            Takes::Actor,
            200,
            Body::PagedReport,
            endpoint::READ,
        ),
        endpoint!(
            Post "/v1/orgs/{id}/usage" => command RecordUsage, 201,
            "Record a flow run's usage: `{\"workspace\", \"flow\", \"run_id\", \"credits\"?}`; the run id is its idempotency key; 402 insufficient_credits; 429 batch_queue_full when MAX_WAITING_COMMANDS posts already wait for their batch (RecordUsage; `credits` also needs PriceUsage, the vendor's, else the usage-pricing hook prices the run)",
            r#"{"workspace": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e02", "flow": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e03", "run_id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e04", "credits": 12, "duration_ms": 5400, "steps": 3}"#,
            Body::Any,
            &[402, 403, 404, 409, 429, 502, 503],
        ),
        endpoint!(
            Get "/v1/orgs/{id}/usage/{at}" => usage_at,
            "Usage of the period containing an RFC 3339 time (ViewBilling)",
            Takes::Actor,
            200,
            Body::PagedReport,
            endpoint::READ,
        ),
        endpoint!(
            Get "/v1/orgs/{id}/balance" => balance,
            "Credit balance, overage cap and the period's allowance and use (ViewBilling)",
            Takes::Actor,
            200,
            Body::Any,
            endpoint::READ,
        ),
        endpoint!(
            Get "/v1/orgs/{id}/accounts/{account}/entries" => entries,
            "An account's entries (`credits` or `seats_receivable`), newest first, paged (ViewBilling)",
            Takes::Actor,
            200,
            Body::AnyPage,
            endpoint::READ,
        ),
        endpoint!(
            Get "/v1/orgs/{id}/billing-events" => events,
            "Low-balance events, newest first (ViewBilling)",
            Takes::Actor,
            200,
            Body::AnyPage,
            endpoint::READ,
        ),
        endpoint!(
            Get "/v1/orgs/{id}/billing" => billing,
            "Billing period, seat price and overage cap (ViewBilling)",
            Takes::Actor,
            200,
            Body::Any,
            endpoint::READ,
        ),
        endpoint!(
            Put "/v1/orgs/{id}/billing" => command SetBilling, 201,
            "Set the billing period, seat price and overage cap (ManageBilling, the vendor's)",
            r#"{"period_start": "2026-01-01T00:00:00Z", "period_end": "2026-02-01T00:00:00Z", "seat_price_cents": 1200, "overage_cap_credits": 10000}"#,
            Body::Any,
            endpoint::WRITE,
        ),
        endpoint!(
            Get "/v1/orgs/{id}/seat-charges" => seat_charges,
            "Seat charges of the current period, paged (ViewBilling)",
            Takes::Actor,
            200,
            Body::AnyPage,
            endpoint::READ,
        ),
        endpoint!(
            Get "/v1/ledger/verify" => verify,
            "Recompute the whole ledger and report violations (system actor only)",
            Takes::Actor,
            200,
            Body::Any,
            &[403],
        ),
        endpoint!(
            Post "/v1/ledger/transactions/{id}/reversal" => command ReverseTransaction, 201,
            "Reverse a ledger transaction once: `{\"reason\"}` (system actor only)",
            r#"{"reason": "duplicate grant"}"#,
            Body::Any,
            endpoint::WRITE,
        ),
    ]
}

/// The org's reports, if the actor may view its billing. The rows of the
/// billing listings (entries, events, seat charges, usage per workspace)
/// have no read of their own: the org's `ViewBilling` decides every item
/// alike, so it is decided once.
fn reports<'a>(state: &'a ApiState, actor: Actor, id: &str) -> Result<Reports<'a>, Error> {
    let org = visible_org(state, actor, id, "ViewBilling")?;
    Ok(Reports {
        store: &state.app.store,
        org: org.id,
    })
}

impl RoutedCommand for GrantCredits {
    type Path = String;

    fn fill(&mut self, _state: &ApiState, id: Self::Path) -> Result<(), Error> {
        self.org = path_id("id", &id)?;
        Ok(())
    }
}

impl RoutedCommand for RecordUsage {
    type Path = String;

    fn fill(&mut self, _state: &ApiState, id: Self::Path) -> Result<(), Error> {
        self.org = path_id("id", &id)?;
        Ok(())
    }
}

async fn current_usage(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<UsageReport>, Error> {
    usage(&state, actor, &id, OffsetDateTime::now_utc(), query)
}

/// Usage of the period containing `at` (RFC 3339).
async fn usage_at(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath((id, at)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<UsageReport>, Error> {
    let at = OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::invalid("path.at", format!("{at:?} is not an RFC 3339 time: {e}")))?;
    let at = ledger::supported_time("path.at", at)?;
    usage(&state, actor, &id, at, query)
}

fn usage(
    state: &ApiState,
    actor: Actor,
    id: &str,
    at: OffsetDateTime,
    query: Option<String>,
) -> Result<Json<UsageReport>, Error> {
    let page = PageQuery::parse(query)?;
    reports(state, actor, id)?
        .usage(at, page.after, page.limit())
        .map(Json)
}

async fn balance(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<BalanceReport>, Error> {
    reports(&state, actor, &id)?
        .balance(OffsetDateTime::now_utc())
        .map(Json)
}

/// An org account's entries, newest first.
async fn entries(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath((id, account)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<Entry>>, Error> {
    let page = PageQuery::parse(query)?;
    let kind = match account.as_str() {
        "credits" => AccountKind::OrgCredits,
        "seats_receivable" => AccountKind::OrgSeatsReceivable,
        _ => {
            return Err(Error::invalid(
                "path.account",
                format!("{account:?} is not an org account (credits, seats_receivable)"),
            ))
        }
    };
    let reports = reports(&state, actor, &id)?;
    let prefix = keys::entries_of(AccountId::org(reports.org, kind));
    state
        .app
        .store
        .newest_page(&prefix, page.after, page.limit())
        .map(Json)
}

/// Low-balance events, newest first.
async fn events(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<BalanceEvent>>, Error> {
    let page = PageQuery::parse(query)?;
    let reports = reports(&state, actor, &id)?;
    state
        .app
        .store
        .newest_page(&keys::events_of(reports.org), page.after, page.limit())
        .map(Json)
}

async fn billing(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<BillingSettings>, Error> {
    let reports = reports(&state, actor, &id)?;
    reports
        .settings()?
        .map(Json)
        .ok_or_else(|| Error::not_found("billing settings of org", reports.org))
}

impl RoutedCommand for SetBilling {
    type Path = String;

    fn fill(&mut self, _state: &ApiState, id: Self::Path) -> Result<(), Error> {
        self.org = path_id("id", &id)?;
        Ok(())
    }
}

/// The seat charges of the current period, by user id.
async fn seat_charges(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<SeatCharge>>, Error> {
    let page = PageQuery::parse(query)?;
    let reports = reports(&state, actor, &id)?;
    let period = reports.period_at(OffsetDateTime::now_utc())?;
    let prefix = keys::seat_charges_of(reports.org, period.start);
    state
        .app
        .store
        .page(&prefix, page.after, page.limit())
        .map(Json)
}

/// Verifies the whole ledger; writes wait while it reads.
async fn verify(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
) -> Result<Json<VerifyReport>, Error> {
    require_system(actor, "verify the ledger")?;
    let app = state.app.clone();
    tokio::task::spawn_blocking(move || ledger::verify(&app.store))
        .await
        .map_err(|e| Error::Internal(format!("verify task failed: {e}")))?
        .map(Json)
}

impl RoutedCommand for ReverseTransaction {
    type Path = String;

    fn fill(&mut self, state: &ApiState, id: Self::Path) -> Result<(), Error> {
        let id: Uuid = path_id("id", &id)?;
        let original: LedgerTransaction = state
            .app
            .store
            .get(&keys::transaction(id))?
            .ok_or_else(|| Error::not_found("transaction", id))?;
        (self.transaction, self.org) = (id, original.org);
        Ok(())
    }
}
