//! Registering resources (flows, credentials, folders…) in workspaces.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ApplyContext, Command};
use crate::app::{Actor, App};
use crate::authz::{self, EntityRef};
use crate::error::{Error, Result};
use crate::store::{keys, Resource, Tx, TxResult, Workspace};

/// The most users one resource may be shared with.
pub const MAX_SHARED_WITH: usize = 100;

/// Entity types Warden derives from its own records; resources cannot use them.
const RESERVED_TYPES: [&str; 5] = ["Org", "OrgRole", "User", "Workspace", "WorkspaceRole"];
/// Attributes Warden sets itself from the resource's placement.
const RESERVED_ATTRIBUTES: [&str; 4] = ["org", "workspace", "owner", "shared_with"];

/// Registers a resource of a schema-declared type under a workspace.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterResource {
    #[serde(default = "Uuid::new_v4", skip_deserializing)]
    pub id: Uuid,
    /// The workspace's org, looked up by the caller (see `App::workspace`).
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
    /// The Cedar entity type, e.g. `Flow`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A folder of the same workspace to put it in.
    #[serde(default)]
    pub folder: Option<Uuid>,
    /// Defaults to the acting user.
    #[serde(default)]
    pub owner: Option<Uuid>,
    #[serde(default)]
    pub shared_with: Vec<Uuid>,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

impl RegisterResource {
    fn record(&self, actor: Actor, now: OffsetDateTime) -> Resource {
        let acting_user = match actor {
            Actor::User(user) => Some(user),
            Actor::System => None,
        };
        Resource {
            id: self.id,
            kind: self.kind.clone(),
            org: self.org,
            workspace: self.workspace,
            folder: self.folder,
            owner: self.owner.or(acting_user),
            shared_with: self.shared_with.clone(),
            attributes: self.attributes.clone(),
            created_at: now,
        }
    }
}

impl Command for RegisterResource {
    const ACTION: &'static str = "CreateResource";
    type Output = Resource;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Workspace", self.workspace)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn validate(&self, app: &App) -> Result<()> {
        if RESERVED_TYPES.contains(&self.kind.as_str()) {
            return Err(Error::invalid(
                "type",
                format!("{} is not a workspace resource type", self.kind),
            ));
        }
        if let Some(name) = RESERVED_ATTRIBUTES
            .iter()
            .find(|a| self.attributes.contains_key(**a))
        {
            return Err(Error::invalid(
                format!("attributes.{name}"),
                "is set by Warden; use the top-level field",
            ));
        }
        if self.shared_with.len() > MAX_SHARED_WITH {
            return Err(Error::invalid(
                "shared_with",
                format!("at most {MAX_SHARED_WITH} users"),
            ));
        }
        let probe = self.record(Actor::System, OffsetDateTime::UNIX_EPOCH);
        authz::validate_resource(&app.policies.current().schema, &probe)
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Resource> {
        let workspace: Workspace = tx.require(
            &keys::workspace(self.workspace),
            "workspace",
            self.workspace,
        )?;
        let resource = self.record(ctx.actor, ctx.now);
        for (field, user) in resource
            .owner
            .iter()
            .map(|u| ("owner", u))
            .chain(self.shared_with.iter().map(|u| ("shared_with", u)))
        {
            if !tx.exists(&keys::membership(workspace.org, *user))? {
                return Err(Error::invalid(
                    field,
                    format!("user {user} is not a member of org {}", workspace.org),
                )
                .into());
            }
        }
        if let Some(folder) = self.folder {
            let parent: Option<Resource> = tx.get(&keys::resource(folder))?;
            if !parent.is_some_and(|p| p.kind == "Folder" && p.workspace == workspace.id) {
                return Err(Error::invalid(
                    "folder",
                    format!("{folder} is not a folder of workspace {}", workspace.id),
                )
                .into());
            }
        }
        tx.put(&keys::resource(resource.id), &resource)?;
        tx.put(&keys::workspace_resource(workspace.id, resource.id), &())?;
        Ok(resource)
    }
}
