//! Users, organizations, their members, invitations and audit log.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::common::{org, run, visible_org, visible_page, Answer, PageQuery};
use super::extract::{path_id, ActingUser, ApiPath, Write};
use super::ApiState;
use crate::app::Actor;
use crate::authz::EntityRef;
use crate::command::{
    AcceptInvitation, Accepted, AddMember, AuditRecord, ChangeRole, CreateOrg, CreateUser,
    InvitationRef, Invite, RemoveMember, ResendInvitation, RevokeInvitation, SetDefaultWorkspace,
    UpdateOrg,
};
use crate::error::Error;
use crate::store::{keys, Invitation, Membership, Org, Page, User};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/users", post(create_user))
        .route("/v1/users/{id}", get(get_user))
        .route("/v1/orgs", post(create_org))
        .route("/v1/orgs/{id}", get(get_org).patch(update_org))
        .route(
            "/v1/orgs/{id}/default-workspace",
            axum::routing::put(set_default_workspace),
        )
        .route("/v1/orgs/{id}/members", get(list_members).post(add_member))
        .route(
            "/v1/orgs/{id}/members/{user}",
            axum::routing::patch(change_role).delete(remove_member),
        )
        .route(
            "/v1/orgs/{id}/invitations",
            get(list_invitations).post(invite),
        )
        .route(
            "/v1/orgs/{id}/invitations/{invitation}",
            get(get_invitation),
        )
        .route(
            "/v1/orgs/{id}/invitations/{invitation}/revoke",
            post(revoke_invitation),
        )
        .route(
            "/v1/orgs/{id}/invitations/{invitation}/resend",
            post(resend_invitation),
        )
        .route(
            "/v1/orgs/{id}/invitations/{invitation}/accept",
            post(accept_invitation),
        )
        .route("/v1/orgs/{id}/audit", get(list_audit))
}

async fn create_user(State(state): State<ApiState>, write: Write<CreateUser>) -> Answer<User> {
    run(&state, write, StatusCode::CREATED, |_| Ok(())).await
}

async fn get_user(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<User>, Error> {
    let id = path_id("id", &id)?;
    if actor != Actor::System && actor != Actor::User(id) {
        return Err(Error::forbidden("users may read only their own record"));
    }
    state
        .app
        .store
        .user(id)?
        .map(Json)
        .ok_or_else(|| Error::not_found("user", id))
}

async fn create_org(State(state): State<ApiState>, write: Write<CreateOrg>) -> Answer<Org> {
    run(&state, write, StatusCode::CREATED, |_| Ok(())).await
}

async fn get_org(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Org>, Error> {
    visible_org(&state, actor, &id, "ViewOrg").map(Json)
}

async fn update_org(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    write: Write<UpdateOrg>,
) -> Answer<Org> {
    run(&state, write, StatusCode::OK, |command| {
        command.org = path_id("id", &id)?;
        Ok(())
    })
    .await
}

async fn set_default_workspace(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    write: Write<SetDefaultWorkspace>,
) -> Answer<Org> {
    run(&state, write, StatusCode::OK, |command| {
        command.org = path_id("id", &id)?;
        Ok(())
    })
    .await
}

/// The org's members. A membership has no read of its own: the org's
/// `ViewMembers` decides every item alike, so it is decided once.
async fn list_members(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<Membership>>, Error> {
    let page = PageQuery::parse(query)?;
    let org = visible_org(&state, actor, &id, "ViewMembers")?;
    state
        .app
        .store
        .page(&keys::memberships_of_org(org.id), page.after, page.limit())
        .map(Json)
}

async fn add_member(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    write: Write<AddMember>,
) -> Answer<Membership> {
    run(&state, write, StatusCode::CREATED, |command| {
        command.org = path_id("id", &id)?;
        Ok(())
    })
    .await
}

async fn change_role(
    State(state): State<ApiState>,
    ApiPath((id, user)): ApiPath<(String, String)>,
    write: Write<ChangeRole>,
) -> Answer<Membership> {
    run(&state, write, StatusCode::OK, |command| {
        (command.org, command.user) = (path_id("id", &id)?, path_id("user", &user)?);
        Ok(())
    })
    .await
}

async fn remove_member(
    State(state): State<ApiState>,
    ApiPath((id, user)): ApiPath<(String, String)>,
    write: Write<RemoveMember>,
) -> Answer<Membership> {
    run(&state, write, StatusCode::OK, |command| {
        (command.org, command.user) = (path_id("id", &id)?, path_id("user", &user)?);
        Ok(())
    })
    .await
}

async fn invite(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    write: Write<Invite>,
) -> Answer<Invitation> {
    run(&state, write, StatusCode::CREATED, |command| {
        command.org = path_id("id", &id)?;
        command.ttl = state.settings.invitation_ttl;
        Ok(())
    })
    .await
}

/// The org's invitations that the actor may read one by one, oldest
/// first: all of them for the org's inviters, their own for an invitee.
async fn list_invitations(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<Invitation>>, Error> {
    let page = PageQuery::parse(query)?;
    let org = org(&state, &id)?;
    let email = state.app.acting_user(actor)?.map(|user| user.email);
    let now = time::OffsetDateTime::now_utc();
    visible_page(
        &state.app,
        actor,
        &page,
        &keys::invitations_of_org(org.id),
        |id| {
            let key = keys::invitation(org.id, id);
            let Some(invitation) = state.app.store.get::<Invitation>(&key)? else {
                return Ok(None);
            };
            authorize_invitation_read(&state, actor, email.as_deref(), &invitation)?;
            Ok(Some(invitation.as_of(now)))
        },
    )
}

async fn get_invitation(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath((id, invitation)): ApiPath<(String, String)>,
) -> Result<Json<Invitation>, Error> {
    let (org, id) = (path_id("id", &id)?, path_id("invitation", &invitation)?);
    let invitation: Invitation = state
        .app
        .store
        .get(&keys::invitation(org, id))?
        .ok_or_else(|| Error::not_found("invitation", id))?;
    let email = state.app.acting_user(actor)?.map(|user| user.email);
    authorize_invitation_read(&state, actor, email.as_deref(), &invitation)?;
    Ok(Json(invitation.as_of(time::OffsetDateTime::now_utc())))
}

/// Who may read an invitation, alone or in a listing: the invitee (the
/// acting user whose email, `actor_email`, it was sent to) and the org's
/// inviters (`InviteMember` on the org).
fn authorize_invitation_read(
    state: &ApiState,
    actor: Actor,
    actor_email: Option<&str>,
    invitation: &Invitation,
) -> Result<(), Error> {
    if actor_email == Some(invitation.email.as_str()) {
        return Ok(());
    }
    state
        .app
        .require(actor, "InviteMember", EntityRef::new("Org", invitation.org))
        .map(drop)
}

fn invitation_ref(id: &str, invitation: &str) -> Result<InvitationRef, Error> {
    Ok(InvitationRef {
        org: path_id("id", id)?,
        invitation: path_id("invitation", invitation)?,
    })
}

async fn revoke_invitation(
    State(state): State<ApiState>,
    ApiPath((id, invitation)): ApiPath<(String, String)>,
    write: Write<RevokeInvitation>,
) -> Answer<Invitation> {
    run(&state, write, StatusCode::OK, |command| {
        command.0 = invitation_ref(&id, &invitation)?;
        Ok(())
    })
    .await
}

async fn resend_invitation(
    State(state): State<ApiState>,
    ApiPath((id, invitation)): ApiPath<(String, String)>,
    write: Write<ResendInvitation>,
) -> Answer<Invitation> {
    run(&state, write, StatusCode::OK, |command| {
        let target = invitation_ref(&id, &invitation)?;
        (command.org, command.invitation) = (target.org, target.invitation);
        command.ttl = state.settings.invitation_ttl;
        Ok(())
    })
    .await
}

async fn accept_invitation(
    State(state): State<ApiState>,
    ApiPath((id, invitation)): ApiPath<(String, String)>,
    write: Write<AcceptInvitation>,
) -> Answer<Accepted> {
    run(&state, write, StatusCode::OK, |command| {
        command.0 = invitation_ref(&id, &invitation)?;
        Ok(())
    })
    .await
}

/// Newest first; `after` is the `next` of the previous page. An audit
/// record has no read of its own: the org's `ViewAudit` decides every item
/// alike, so it is decided once.
async fn list_audit(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<AuditRecord>>, Error> {
    let page = PageQuery::parse(query)?;
    let org = visible_org(&state, actor, &id, "ViewAudit")?;
    state
        .app
        .store
        .newest_page(&keys::audit_of_org(org.id), page.after, page.limit())
        .map(Json)
}
