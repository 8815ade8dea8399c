//! Credits, usage, balances, billing settings, seat charges and the ledger
//! verifier. Reads need `ViewBilling` on the org (admins by default).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use time::OffsetDateTime;
use uuid::Uuid;

use super::common::{run, visible_org, Answer, PageQuery};
use super::extract::{path_id, ActingUser, ApiPath, Write};
use super::ApiState;
use crate::app::Actor;
use crate::command::{
    require_system, Grant, GrantCredits, RecordUsage, ReverseTransaction, SetBilling,
};
use crate::error::Error;
use crate::ledger::{
    self, keys, AccountId, AccountKind, BalanceEvent, BalanceReport, BillingSettings, Entry,
    LedgerTransaction, Reports, SeatCharge, UsageRecord, UsageReport, VerifyReport,
};
use crate::store::Page;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/orgs/{id}/credits", post(grant))
        .route("/v1/orgs/{id}/usage", get(current_usage).post(record_usage))
        .route("/v1/orgs/{id}/usage/{at}", get(usage_at))
        .route("/v1/orgs/{id}/balance", get(balance))
        .route("/v1/orgs/{id}/accounts/{account}/entries", get(entries))
        .route("/v1/orgs/{id}/billing-events", get(events))
        .route("/v1/orgs/{id}/billing", get(billing).put(set_billing))
        .route("/v1/orgs/{id}/seat-charges", get(seat_charges))
        .route("/v1/ledger/verify", get(verify))
        .route("/v1/ledger/transactions/{id}/reversal", post(reverse))
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

async fn grant(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    write: Write<GrantCredits>,
) -> Answer<Grant> {
    run(&state, write, StatusCode::CREATED, |command| {
        command.org = path_id("id", &id)?;
        Ok(())
    })
    .await
}

async fn record_usage(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    write: Write<RecordUsage>,
) -> Answer<UsageRecord> {
    run(&state, write, StatusCode::CREATED, |command| {
        command.org = path_id("id", &id)?;
        Ok(())
    })
    .await
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

async fn set_billing(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    write: Write<SetBilling>,
) -> Answer<BillingSettings> {
    run(&state, write, StatusCode::CREATED, |command| {
        command.org = path_id("id", &id)?;
        Ok(())
    })
    .await
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

async fn reverse(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    write: Write<ReverseTransaction>,
) -> Answer<LedgerTransaction> {
    run(&state, write, StatusCode::CREATED, |command| {
        let id: Uuid = path_id("id", &id)?;
        let original: LedgerTransaction = state
            .app
            .store
            .get(&keys::transaction(id))?
            .ok_or_else(|| Error::not_found("transaction", id))?;
        (command.transaction, command.org) = (id, original.org);
        Ok(())
    })
    .await
}
