//! Creating organizations and adding members to them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use serde_json::Value;

use super::seats::{self, SeatQuote};
use super::{fields, ApplyContext, Command};
use crate::plugin::PluginAnswer;
use crate::app::App;
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::store::{
    keys, Membership, MembershipStatus, Org, OrgRole, Plan, Tx, TxResult, User, Workspace,
    WorkspaceMember, WorkspaceRole,
};

/// Name of the workspace every new org starts with.
pub const DEFAULT_WORKSPACE_NAME: &str = "Default";

/// Creates an org with its default workspace and, optionally, its first admin.
#[derive(Debug, Serialize, Deserialize)]
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
    #[serde(default)]
    pub verified_domains: Vec<String>,
    /// A user who becomes the org's first Admin.
    #[serde(default)]
    pub admin: Option<Uuid>,
    /// The role users who auto-join by a verified domain get (not admin).
    #[serde(default = "OrgRole::autojoin_default")]
    pub autojoin_role: OrgRole,
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
            verified_domains: fields::verifiable_domains(
                "verified_domains",
                &self.verified_domains,
            )?,
            default_workspace: Some(self.default_workspace),
            autojoin_role: self.autojoin_role,
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
        for domain in &org.verified_domains {
            tx.put(&keys::domain_org(domain, org.id), &())?;
        }
        if let Some(admin) = self.admin {
            tx.require::<User>(&keys::user(admin), "user", admin)?;
            add_membership(tx, &mut org, admin, OrgRole::Admin, ctx)?;
            add_workspace_member(tx, workspace.id, admin, WorkspaceRole::Admin, ctx)?;
        }
        tx.put(&keys::org(org.id), &org)?;
        Ok(org)
    }
}

/// Adds an existing user to an org with a role (what accepting an
/// invitation does; only Admins may, by the default policies).
#[derive(Debug, Serialize, Deserialize)]
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
        Some(seats::serial_key(self.org))
    }

    fn consult(&mut self, app: &App) -> Result<Vec<PluginAnswer<Value>>> {
        self.seat = seats::quote(app, self.org, self.role)?;
        Ok(seats::answers(&self.seat))
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Membership> {
        let mut org: Org = tx.require(&keys::org(self.org), "org", self.org)?;
        tx.require::<User>(&keys::user(self.user), "user", self.user)?;
        seats::charge(tx, &self.seat, &org, self.user, self.role, ctx.now)?;
        let membership = add_membership(tx, &mut org, self.user, self.role, ctx)?;
        tx.put(&keys::org(org.id), &org)?;
        Ok(membership)
    }
}

/// Writes a new membership and its index and updates the org's counters;
/// the caller writes `org` back.
pub(super) fn add_membership(
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
    org.seats_used += u32::from(role.takes_seat());
    org.admin_count += u32::from(role == OrgRole::Admin);
    Ok(membership)
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
