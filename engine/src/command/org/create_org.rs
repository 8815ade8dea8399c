//! `CreateOrg`: creates an org with its default workspace and, optionally,
//! its first admin. System only (no Cedar action exists for it).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::members::{admit_member, join_default_workspace};
use crate::app::App;
use crate::authz::EntityRef;
use crate::command::{domain, ApplyContext, Command};
use crate::error::Result;
use crate::fields;
use crate::store::{keys, InvitationMode, Org, OrgRole, Plan, Tx, TxResult, User, Workspace};

/// Name of the workspace every new org starts with.
pub const DEFAULT_WORKSPACE_NAME: &str = "Default";

/// Creates an org with its default workspace and, optionally, its first admin.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// The new org's id (generated when a body is read).
    #[serde(default = "Uuid::new_v4", skip_deserializing)]
    pub id: Uuid,
    /// The id of the workspace the org starts with, named `Default`
    /// (generated when a body is read).
    #[serde(default = "Uuid::new_v4", skip_deserializing)]
    pub default_workspace: Uuid,
    /// The org's name, stored trimmed: 1 to
    /// [`MAX_NAME_CHARS`](crate::fields::MAX_NAME_CHARS) characters, no control
    /// characters.
    pub name: String,
    /// The org's subscription plan.
    pub plan: Plan,
    /// Seats included in the plan; 0 means unlimited.
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
