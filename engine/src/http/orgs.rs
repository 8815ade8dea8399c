//! Users, organizations, their members, invitations and audit log.

use axum::extract::{RawQuery, State};
use axum::Json;

use super::common::{org, visible_org, visible_page, PageQuery, RoutedCommand};
use super::endpoint::{self, endpoint, Body, Endpoint, Takes};
use super::extract::{path_id, ActingUser, ApiPath};
use super::ApiState;
use crate::app::Actor;
use crate::authz::EntityRef;
use crate::command::{
    AcceptInvitation, AddMember, AuditRecord, ChangeRole, CreateOrg, CreateUser, InvitationRef,
    Invite, RemoveMember, ResendInvitation, RevokeInvitation, SetDefaultWorkspace, UpdateOrg,
};
use crate::error::Error;
use crate::store::CheckRecords;
use crate::store::{keys, Invitation, Membership, Org, Page, User};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint!(
            Post "/v1/users" => command CreateUser, 201,
            "Create a user (system actor only)",
            r#"{"email": "ann@acme.com"}"#,
            Body::One("User"),
            &[403, 409],
        ),
        endpoint!(
            Get "/v1/users/{id}" => get_user,
            "Read a user (the system, or the user themself)",
            Takes::Actor,
            200,
            Body::One("User"),
            endpoint::READ,
        ),
        endpoint!(
            Post "/v1/orgs" => command CreateOrg, 201,
            "Create an org with its default workspace (system actor only)",
            r#"{"name": "Acme", "plan": "pro", "seat_limit": 25, "admin": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e01"}"#,
            Body::One("Org"),
            &[403, 404],
        ),
        endpoint!(
            Get "/v1/orgs/{id}" => get_org,
            "Read an org (ViewOrg); `seats_used` counts Admins, Members and Internal Guests",
            Takes::Actor,
            200,
            Body::One("Org"),
            endpoint::READ,
        ),
        endpoint!(
            Patch "/v1/orgs/{id}" => command UpdateOrg, 200,
            "Change name, auto-join role or invitation mode (UpdateOrg), plan or seat limit (ManagePlan, the vendor's); `verified_domains` is refused (claim domains instead)",
            r#"{"name": "Acme Inc.", "autojoin_role": "member"}"#,
            Body::One("Org"),
            endpoint::WRITE,
        ),
        endpoint!(
            Put "/v1/orgs/{id}/default-workspace" => command SetDefaultWorkspace, 200,
            "Make one of the org's workspaces its default (SetDefaultWorkspace)",
            r#"{"workspace": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e02"}"#,
            Body::One("Org"),
            endpoint::WRITE,
        ),
        endpoint!(
            Get "/v1/orgs/{id}/members" => list_members,
            "Members with their roles, paged (ViewMembers)",
            Takes::Actor,
            200,
            Body::Page("Membership"),
            endpoint::READ,
        ),
        endpoint!(
            Post "/v1/orgs/{id}/members" => command AddMember, 201,
            "Add an existing user with a role (InviteMember)",
            r#"{"user": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e01", "role": "member"}"#,
            Body::One("Membership"),
            endpoint::WRITE,
        ),
        endpoint!(
            Patch "/v1/orgs/{id}/members/{user}" => command ChangeRole, 200,
            "Promote or demote a member; 409 last_admin for the last Admin (ChangeRole)",
            r#"{"role": "admin"}"#,
            Body::One("Membership"),
            endpoint::WRITE,
        ),
        endpoint!(
            Delete "/v1/orgs/{id}/members/{user}" => command RemoveMember {}, 200,
            "Remove a member and their workspace memberships; 409 last_admin (RemoveMember)",
            Body::One("Membership"),
            endpoint::WRITE,
        ),
        endpoint!(
            Get "/v1/orgs/{id}/invitations" => list_invitations,
            "The invitations the actor may read one by one (InviteMember, or the invitee), oldest first, paged",
            Takes::Actor,
            200,
            Body::Page("Invitation"),
            endpoint::FILTERED,
        ),
        endpoint!(
            Post "/v1/orgs/{id}/invitations" => command Invite, 201,
            "Invite an email address with a role; 409 invitation_pending or already_member (InviteMember)",
            r#"{"email": "bob@acme.com", "role": "member"}"#,
            Body::One("Invitation"),
            endpoint::WRITE,
        ),
        endpoint!(
            Get "/v1/orgs/{id}/invitations/{invitation}" => get_invitation,
            "Read an invitation (InviteMember, or the invitee)",
            Takes::Actor,
            200,
            Body::One("Invitation"),
            endpoint::READ,
        ),
        endpoint!(
            Post "/v1/orgs/{id}/invitations/{invitation}/revoke" => command RevokeInvitation {}, 200,
            "Revoke; 409 invitation_accepted, 410 invitation_revoked (InviteMember)",
            Body::One("Invitation"),
            &[403, 404, 409, 410],
        ),
        endpoint!(
            Post "/v1/orgs/{id}/invitations/{invitation}/resend" => command ResendInvitation {}, 200,
            "Pending again with a new expiry (InviteMember)",
            Body::One("Invitation"),
            &[403, 404, 409, 410],
        ),
        endpoint!(
            Post "/v1/orgs/{id}/invitations/{invitation}/accept" => command AcceptInvitation {}, 200,
            "Accept as the invited user (email must match); 409 invitation_accepted, 410 invitation_expired/invitation_revoked",
            Body::One("Accepted"),
            &[403, 404, 409, 410],
        ),
        endpoint!(
            Get "/v1/orgs/{id}/audit" => list_audit,
            "Audit records, newest first, paged (ViewAudit)",
            Takes::Actor,
            200,
            Body::Page("AuditRecord"),
            endpoint::READ,
        ),
    ]
}

impl RoutedCommand for CreateUser {
    type Path = ();

    fn fill(&mut self, _state: &ApiState, (): Self::Path) -> Result<(), Error> {
        Ok(())
    }
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

impl RoutedCommand for CreateOrg {
    type Path = ();

    fn fill(&mut self, _state: &ApiState, (): Self::Path) -> Result<(), Error> {
        Ok(())
    }
}

async fn get_org(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Org>, Error> {
    visible_org(&state, actor, &id, "ViewOrg").map(Json)
}

impl RoutedCommand for UpdateOrg {
    type Path = String;

    fn fill(&mut self, _state: &ApiState, id: Self::Path) -> Result<(), Error> {
        self.org = path_id("id", &id)?;
        Ok(())
    }
}

impl RoutedCommand for SetDefaultWorkspace {
    type Path = String;

    fn fill(&mut self, _state: &ApiState, id: Self::Path) -> Result<(), Error> {
        self.org = path_id("id", &id)?;
        Ok(())
    }
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

impl RoutedCommand for AddMember {
    type Path = String;

    fn fill(&mut self, _state: &ApiState, id: Self::Path) -> Result<(), Error> {
        self.org = path_id("id", &id)?;
        Ok(())
    }
}

impl RoutedCommand for ChangeRole {
    type Path = (String, String);

    fn fill(&mut self, _state: &ApiState, (id, user): Self::Path) -> Result<(), Error> {
        (self.org, self.user) = (path_id("id", &id)?, path_id("user", &user)?);
        Ok(())
    }
}

impl RoutedCommand for RemoveMember {
    type Path = (String, String);

    fn fill(&mut self, _state: &ApiState, (id, user): Self::Path) -> Result<(), Error> {
        (self.org, self.user) = (path_id("id", &id)?, path_id("user", &user)?);
        Ok(())
    }
}

impl RoutedCommand for Invite {
    type Path = String;

    fn fill(&mut self, state: &ApiState, id: Self::Path) -> Result<(), Error> {
        self.org = path_id("id", &id)?;
        self.ttl = state.settings.invitation_ttl;
        Ok(())
    }
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

impl RoutedCommand for RevokeInvitation {
    type Path = (String, String);

    fn fill(&mut self, _state: &ApiState, (id, invitation): Self::Path) -> Result<(), Error> {
        self.0 = invitation_ref(&id, &invitation)?;
        Ok(())
    }
}

impl RoutedCommand for ResendInvitation {
    type Path = (String, String);

    fn fill(&mut self, state: &ApiState, (id, invitation): Self::Path) -> Result<(), Error> {
        let target = invitation_ref(&id, &invitation)?;
        (self.org, self.invitation) = (target.org, target.invitation);
        self.ttl = state.settings.invitation_ttl;
        Ok(())
    }
}

impl RoutedCommand for AcceptInvitation {
    type Path = (String, String);

    fn fill(&mut self, _state: &ApiState, (id, invitation): Self::Path) -> Result<(), Error> {
        self.0 = invitation_ref(&id, &invitation)?;
        Ok(())
    }
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
