//! Organizations and their members: create, update, add, change roles,
//! remove. Every role change keeps `admin_count` and `seats_used` in the
//! same transaction, and none may take an org's last Admin.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use serde_json::Value;

use super::seat_pricing::{self, SeatQuote};
use super::{domain, ApplyContext, Command};
use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::fields;
use crate::plugin::PluginAnswer;
use crate::policy::PolicySnapshot;
use crate::store::{
    keys, InvitationMode, Membership, MembershipStatus, Org, OrgRole, Plan, Tx, TxResult, User,
    Workspace, WorkspaceMember, WorkspaceRole,
};

/// Name of the workspace every new org starts with.
pub const DEFAULT_WORKSPACE_NAME: &str = "Default";

/// The Cedar action that sets an org's plan and seat limit: the vendor's
/// terms, which no default policy grants to a tenant role.
pub const MANAGE_PLAN: &str = "ManagePlan";

/// Creates an org with its default workspace and, optionally, its first admin.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    #[serde(default = "Uuid::new_v4", skip_deserializing)]
    pub id: Uuid,
    #[serde(default = "Uuid::new_v4", skip_deserializing)]
    pub default_workspace: Uuid,
    pub name: String,
    pub plan: Plan,
    #[serde(default)]
    pub seat_limit: u32,
    /// Domains the vendor confirms for the new org: verified claims (409
    /// `domain_taken` if another org holds one).
    #[serde(default)]
    pub verified_domains: Vec<String>,
    /// A user who becomes the org's first Admin.
    #[serde(default)]
    pub admin: Option<Uuid>,
    /// The role users who auto-join by a verified domain get (not admin).
    #[serde(default = "OrgRole::autojoin_default")]
    pub autojoin_role: OrgRole,
    /// Whether invitations admit at once or when accepted.
    #[serde(default)]
    pub invitation_mode: InvitationMode,
}

impl Command for CreateOrg {
    const ACTION: &'static str = "CreateOrg";
    type Output = Org;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.id)
    }
    fn org(&self) -> Uuid {
        self.id
    }
    fn system_only(&self) -> bool {
        true
    }

    fn validate(&self, _app: &App) -> Result<()> {
        fields::name("name", &self.name)?;
        fields::verifiable_domains("verified_domains", &self.verified_domains)?;
        fields::autojoin_role("autojoin_role", self.autojoin_role)
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Org> {
        let mut org = Org {
            id: self.id,
            name: fields::name("name", &self.name)?,
            plan: self.plan,
            seat_limit: self.seat_limit,
            verified_domains: Vec::new(),
            default_workspace: Some(self.default_workspace),
            autojoin_role: self.autojoin_role,
            invitation_mode: self.invitation_mode,
            workspace_count: 1,
            seats_used: 0,
            admin_count: 0,
            created_at: ctx.now,
        };
        let workspace = Workspace {
            id: self.default_workspace,
            org: org.id,
            name: DEFAULT_WORKSPACE_NAME.to_string(),
            created_at: ctx.now,
        };
        tx.put(&keys::workspace(workspace.id), &workspace)?;
        tx.put(&keys::org_workspace(org.id, workspace.id), &())?;
        for domain in fields::verifiable_domains("verified_domains", &self.verified_domains)? {
            domain::confirm_by_vendor(tx, &mut org, &domain, ctx.now)?;
        }
        if let Some(admin) = self.admin {
            tx.require::<User>(&keys::user(admin), "user", admin)?;
            admit_member(tx, &mut org, admin, OrgRole::Admin, ctx)?;
            join_default_workspace(tx, &org, admin, OrgRole::Admin, ctx)?;
        }
        tx.put(&keys::org(org.id), &org)?;
        Ok(org)
    }
}

/// Adds an existing user to an org with a role (what accepting an
/// invitation does; only Admins may, by the default policies).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    pub user: Uuid,
    pub role: OrgRole,
    /// The seat-billing hook's price for the new seat.
    #[serde(skip)]
    seat: Option<SeatQuote>,
}

impl AddMember {
    pub fn new(org: Uuid, user: Uuid, role: OrgRole) -> AddMember {
        AddMember {
            org,
            user,
            role,
            seat: None,
        }
    }
}

impl Command for AddMember {
    const ACTION: &'static str = "InviteMember";
    type Output = Membership;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn serial_key(&self) -> Option<String> {
        Some(seat_pricing::serial_key(self.org))
    }

    fn consult(&mut self, app: &App) -> Result<Vec<PluginAnswer<Value>>> {
        self.seat = seat_pricing::quote(app, self.org, self.role)?;
        Ok(seat_pricing::answers(&self.seat))
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Membership> {
        let mut org: Org = tx.require(&keys::org(self.org), "org", self.org)?;
        tx.require::<User>(&keys::user(self.user), "user", self.user)?;
        seat_pricing::charge(tx, &self.seat, &org, self.user, self.role, ctx.now)?;
        let membership = admit_member(tx, &mut org, self.user, self.role, ctx)?;
        join_default_workspace(tx, &org, self.user, self.role, ctx)?;
        tx.put(&keys::org(org.id), &org)?;
        Ok(membership)
    }
}

/// Makes `user` a member of `org` with `role`: the membership, its index and
/// the org's counters, inside the caller's transaction; the caller writes
/// `org` back. Every way into an org goes through here (creating it with an
/// admin, adding a member, an invitation, auto-join), so this is where a
/// change that follows a new member (such as a seat charge) belongs; each
/// of them then puts the member in the default workspace by
/// [`default_workspace_role`].
pub fn admit_member(
    tx: &Tx,
    org: &mut Org,
    user: Uuid,
    role: OrgRole,
    ctx: &ApplyContext,
) -> TxResult<Membership> {
    let key = keys::membership(org.id, user);
    if tx.exists(&key)? {
        return Err(Error::conflict(
            "already_member",
            format!("user {user} is already a member of org {}", org.id),
        )
        .into());
    }
    let membership = Membership {
        org: org.id,
        user,
        role,
        status: MembershipStatus::Active,
        created_at: ctx.now,
    };
    tx.put(&key, &membership)?;
    tx.put(&keys::user_org(user, org.id), &())?;
    hold_role(org, role);
    Ok(membership)
}

/// Counts a member holding `role` in the org's counters.
fn hold_role(org: &mut Org, role: OrgRole) {
    org.seats_used += u32::from(role.takes_seat());
    org.admin_count += u32::from(role == OrgRole::Admin);
}

/// Takes a member holding `role` off the org's counters; refuses to take
/// the last Admin. Runs inside the transaction that also writes `org`, so
/// concurrent demotions conflict on the org record and sled retries the
/// loser against the new count.
fn release_role(org: &mut Org, role: OrgRole, user: Uuid) -> Result<()> {
    if role == OrgRole::Admin && org.admin_count <= 1 {
        return Err(Error::conflict(
            "last_admin",
            format!(
                "user {user} is the last Admin of org {}; an org must keep at least one Admin (promote another member first)",
                org.id
            ),
        ));
    }
    org.seats_used = org.seats_used.saturating_sub(u32::from(role.takes_seat()));
    org.admin_count = org
        .admin_count
        .saturating_sub(u32::from(role == OrgRole::Admin));
    Ok(())
}

/// Reads a member of an org, or 404.
fn require_member(tx: &Tx, org: Uuid, user: Uuid) -> TxResult<Membership> {
    tx.get(&keys::membership(org, user))?
        .ok_or_else(|| Error::not_found("member", format!("{user} of org {org}")).into())
}

/// Changes the name, auto-join role or invitation mode of an org (the
/// tenant's settings, `UpdateOrg`) and its plan or seat limit (the vendor's
/// terms, `ManagePlan`). The actor needs the action of every field sent: a
/// tenant Admin's body naming `plan` is refused whole, whatever else it
/// holds. Domains are claimed and proven instead (`command::domain`).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub plan: Option<Plan>,
    /// Seats included in the plan; 0 means unlimited. Seats in use may
    /// exceed it (billing charges the difference).
    #[serde(default)]
    pub seat_limit: Option<u32>,
    /// Refused: domains are claimed and proven (`command::domain`); the
    /// field is read only to say so.
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub verified_domains: Option<Value>,
    /// The role users who auto-join by a verified domain get (not admin).
    #[serde(default)]
    pub autojoin_role: Option<OrgRole>,
    /// Whether invitations admit at once (`on_invite`) or when accepted.
    #[serde(default)]
    pub invitation_mode: Option<InvitationMode>,
}

impl UpdateOrg {
    /// Whether the body changes the tenant's own settings.
    fn changes_settings(&self) -> bool {
        self.name.is_some()
            || self.verified_domains.is_some()
            || self.autojoin_role.is_some()
            || self.invitation_mode.is_some()
    }

    /// Whether the body changes the vendor's terms.
    fn changes_terms(&self) -> bool {
        self.plan.is_some() || self.seat_limit.is_some()
    }
}

impl Command for UpdateOrg {
    const ACTION: &'static str = "UpdateOrg";
    type Output = Org;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    /// `ManagePlan` for `plan` and `seat_limit`, `UpdateOrg` for the rest;
    /// both when the body holds both.
    fn authorize(&self, app: &App, actor: Actor) -> Result<Arc<PolicySnapshot>> {
        if self.changes_terms() {
            let terms = "plan and seat_limit";
            let revision = app.require_vendor_term(actor, MANAGE_PLAN, self.resource(), terms)?;
            if !self.changes_settings() {
                return Ok(revision);
            }
        }
        app.require(actor, Self::ACTION, self.resource())
    }

    fn validate(&self, _app: &App) -> Result<()> {
        if self.verified_domains.is_some() {
            return Err(Error::invalid(
                "verified_domains",
                "domains are claimed with POST /v1/orgs/{id}/domains and verified by a DNS TXT record or by the vendor",
            ));
        }
        if !self.changes_settings() && !self.changes_terms() {
            return Err(Error::invalid(
                "body",
                "name, plan, seat_limit, autojoin_role or invitation_mode is needed",
            ));
        }
        if let Some(name) = &self.name {
            fields::name("name", name)?;
        }
        if let Some(role) = self.autojoin_role {
            fields::autojoin_role("autojoin_role", role)?;
        }
        Ok(())
    }

    fn apply(&self, tx: &Tx, _ctx: &ApplyContext) -> TxResult<Org> {
        let mut org: Org = tx.require(&keys::org(self.org), "org", self.org)?;
        if let Some(name) = &self.name {
            org.name = fields::name("name", name)?;
        }
        org.autojoin_role = self.autojoin_role.unwrap_or(org.autojoin_role);
        org.invitation_mode = self.invitation_mode.unwrap_or(org.invitation_mode);
        org.plan = self.plan.unwrap_or(org.plan);
        org.seat_limit = self.seat_limit.unwrap_or(org.seat_limit);
        tx.put(&keys::org(org.id), &org)?;
        Ok(org)
    }
}

/// Makes one of the org's workspaces its default (where new members land).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDefaultWorkspace {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    pub workspace: Uuid,
}

impl Command for SetDefaultWorkspace {
    const ACTION: &'static str = "SetDefaultWorkspace";
    type Output = Org;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn apply(&self, tx: &Tx, _ctx: &ApplyContext) -> TxResult<Org> {
        let mut org: Org = tx.require(&keys::org(self.org), "org", self.org)?;
        // Another org's workspace reads as missing: ids never leak across orgs.
        if !tx.exists(&keys::org_workspace(org.id, self.workspace))? {
            return Err(Error::not_found("workspace", self.workspace).into());
        }
        org.default_workspace = Some(self.workspace);
        tx.put(&keys::org(org.id), &org)?;
        Ok(org)
    }
}

/// Promotes or demotes a member to any of the four org roles.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub user: Uuid,
    pub role: OrgRole,
    /// The price of the seat an External Guest takes by becoming anything else.
    #[serde(skip)]
    seat: Option<SeatQuote>,
}

impl ChangeRole {
    pub fn new(org: Uuid, user: Uuid, role: OrgRole) -> ChangeRole {
        ChangeRole {
            org,
            user,
            role,
            seat: None,
        }
    }
}

impl Command for ChangeRole {
    const ACTION: &'static str = "ChangeRole";
    type Output = Membership;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn serial_key(&self) -> Option<String> {
        Some(seat_pricing::serial_key(self.org))
    }

    /// Prices the seat an External Guest takes by becoming a seat-taking role.
    fn consult(&mut self, app: &App) -> Result<Vec<PluginAnswer<Value>>> {
        let taken = app
            .store
            .membership(self.org, self.user)?
            .is_some_and(|m| !m.role.takes_seat());
        self.seat = if taken {
            seat_pricing::quote(app, self.org, self.role)?
        } else {
            None
        };
        Ok(seat_pricing::answers(&self.seat))
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Membership> {
        let mut org: Org = tx.require(&keys::org(self.org), "org", self.org)?;
        let mut membership = require_member(tx, org.id, self.user)?;
        if membership.role == self.role {
            return Ok(membership);
        }
        if !membership.role.takes_seat() {
            seat_pricing::charge(tx, &self.seat, &org, self.user, self.role, ctx.now)?;
        }
        release_role(&mut org, membership.role, self.user)?;
        hold_role(&mut org, self.role);
        membership.role = self.role;
        tx.put(&keys::membership(org.id, self.user), &membership)?;
        tx.put(&keys::org(org.id), &org)?;
        Ok(membership)
    }
}

/// Removes a member from an org and from all of its workspaces.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveMember {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub user: Uuid,
}

impl Command for RemoveMember {
    const ACTION: &'static str = "RemoveMember";
    type Output = Membership;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }
    fn scans(&self) -> Vec<Vec<u8>> {
        vec![keys::workspaces_of_user(self.user)]
    }

    fn apply(&self, tx: &Tx, _ctx: &ApplyContext) -> TxResult<Membership> {
        let mut org: Org = tx.require(&keys::org(self.org), "org", self.org)?;
        let membership = require_member(tx, org.id, self.user)?;
        release_role(&mut org, membership.role, self.user)?;
        for workspace in tx.committed_children(&keys::workspaces_of_user(self.user))? {
            if tx.exists(&keys::org_workspace(org.id, workspace))? {
                remove_workspace_member(tx, workspace, self.user)?;
            }
        }
        tx.remove(&keys::membership(org.id, self.user))?;
        tx.remove(&keys::user_org(self.user, org.id))?;
        tx.put(&keys::org(org.id), &org)?;
        Ok(membership)
    }
}

/// Writes a new workspace membership and its index.
pub(super) fn add_workspace_member(
    tx: &Tx,
    workspace: Uuid,
    user: Uuid,
    role: WorkspaceRole,
    ctx: &ApplyContext,
) -> TxResult<WorkspaceMember> {
    let key = keys::workspace_member(workspace, user);
    if tx.exists(&key)? {
        return Err(Error::conflict(
            "already_member",
            format!("user {user} is already a member of workspace {workspace}"),
        )
        .into());
    }
    let member = WorkspaceMember {
        workspace,
        user,
        role,
        created_at: ctx.now,
    };
    tx.put(&key, &member)?;
    tx.put(&keys::user_workspace(user, workspace), &())?;
    Ok(member)
}

/// Removes a workspace membership and its index.
pub(super) fn remove_workspace_member(tx: &Tx, workspace: Uuid, user: Uuid) -> TxResult<()> {
    tx.remove(&keys::workspace_member(workspace, user))?;
    tx.remove(&keys::user_workspace(user, workspace))
}

/// The workspace role a new org member gets in the org's default
/// workspace, whichever way they joined (created the org, added, invited,
/// auto-joined): Admins administer it, Members edit, Internal Guests view;
/// External Guests see only what is shared with them and join no workspace.
pub fn default_workspace_role(role: OrgRole) -> Option<WorkspaceRole> {
    match role {
        OrgRole::Admin => Some(WorkspaceRole::Admin),
        OrgRole::Member => Some(WorkspaceRole::Editor),
        OrgRole::GuestInternal => Some(WorkspaceRole::Viewer),
        OrgRole::GuestExternal => None,
    }
}

/// Puts a new member of `org` into its default workspace with the role
/// [`default_workspace_role`] gives; nothing when there is none.
pub fn join_default_workspace(
    tx: &Tx,
    org: &Org,
    user: Uuid,
    role: OrgRole,
    ctx: &ApplyContext,
) -> TxResult<Option<WorkspaceMember>> {
    match (org.default_workspace, default_workspace_role(role)) {
        (Some(workspace), Some(role)) => {
            add_workspace_member(tx, workspace, user, role, ctx).map(Some)
        }
        _ => Ok(None),
    }
}
