//! Resources (flows, credentials, folders…) in workspaces: register,
//! delete, move between workspaces of one org; credentials' secrets.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ApplyContext, Command};
use crate::app::{Actor, App};
use crate::authz::{self, EntityRef};
use crate::error::{Error, Result};
use crate::policy::PolicySnapshot;
use crate::secrets::{CredentialKey, MAX_SECRET_BYTES};
use crate::store::{keys, Resource, Tx, TxResult, Workspace};

/// The resource type whose records may carry a sealed secret.
pub const CREDENTIAL_TYPE: &str = "Credential";

/// The most users one resource may be shared with.
pub const MAX_SHARED_WITH: usize = 100;

/// Entity types Warden derives from its own records; resources cannot use them.
const RESERVED_TYPES: [&str; 5] = ["Org", "OrgRole", "User", "Workspace", "WorkspaceRole"];
/// Attributes Warden sets itself from the resource's placement.
const RESERVED_ATTRIBUTES: [&str; 4] = ["org", "workspace", "owner", "shared_with"];

/// Registers a resource of a schema-declared type under a workspace.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
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
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// A credential's secret. The handler seals it with
    /// [`seal_secret`](Self::seal_secret), which takes it out, before the
    /// command runs: it is never stored, audited or answered in the clear.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(skip)]
    pub sealed_secret: Option<Vec<u8>>,
}

impl RegisterResource {
    /// Encrypts `secret` (if any) for this resource with `key`.
    pub fn seal_secret(&mut self, key: &CredentialKey) -> Result<()> {
        let Some(secret) = self.secret.take() else {
            return Ok(());
        };
        if self.kind != CREDENTIAL_TYPE {
            return Err(Error::invalid(
                "secret",
                format!("only a {CREDENTIAL_TYPE} has a secret"),
            ));
        }
        if secret.is_empty() || secret.len() > MAX_SECRET_BYTES {
            return Err(Error::invalid(
                "secret",
                format!("must be 1 to {MAX_SECRET_BYTES} bytes"),
            ));
        }
        self.sealed_secret = Some(key.seal(self.id, &secret)?);
        Ok(())
    }

    /// Whether the record describes a personal credential.
    fn personal(&self) -> bool {
        self.kind == CREDENTIAL_TYPE && self.attributes.get("personal") == Some(&Value::Bool(true))
    }

    fn record(&self, actor: Actor, now: OffsetDateTime) -> Resource {
        let acting_user = actor.user();
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
        if self.secret.is_some() {
            return Err(Error::Internal(
                "a secret must be sealed before the command runs".into(),
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
        if self.personal() && resource.owner.is_none() {
            return Err(Error::invalid("owner", "a personal credential needs an owner").into());
        }
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
            require_folder(tx, folder, workspace.id)?;
        }
        if let Some(sealed) = &self.sealed_secret {
            tx.put_raw(&keys::credential_secret(resource.id), sealed)?;
        }
        tx.put(&keys::resource(resource.id), &resource)?;
        place(tx, &resource)?;
        Ok(resource)
    }
}

/// Which resource a command is about; the handler reads its type and org
/// (the Cedar resource) from the store.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ResourceRef {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub id: Uuid,
    #[serde(skip_deserializing, rename = "type")]
    pub kind: String,
}

impl ResourceRef {
    pub fn of(resource: &Resource) -> ResourceRef {
        ResourceRef {
            org: resource.org,
            id: resource.id,
            kind: resource.kind.clone(),
        }
    }

    fn entity(&self) -> EntityRef {
        EntityRef::new(&self.kind, self.id)
    }
}

/// Deletes a resource (a folder only once it is empty) and its secret.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteResource {
    #[serde(skip_deserializing)]
    pub target: ResourceRef,
}

impl Command for DeleteResource {
    const ACTION: &'static str = "DeleteResource";
    type Output = Resource;

    fn resource(&self) -> EntityRef {
        self.target.entity()
    }
    fn org(&self) -> Uuid {
        self.target.org
    }
    fn scans(&self) -> Vec<Vec<u8>> {
        vec![keys::children_of_folder(self.target.id)]
    }

    fn apply(&self, tx: &Tx, _ctx: &ApplyContext) -> TxResult<Resource> {
        let resource: Resource =
            tx.require(&keys::resource(self.target.id), "resource", self.target.id)?;
        refuse_non_empty_folder(tx, &resource)?;
        unplace(tx, &resource)?;
        tx.remove(&keys::resource(resource.id))?;
        tx.remove(&keys::credential_secret(resource.id))?;
        Ok(resource)
    }
}

/// Moves a resource to another workspace of the same org (optionally into
/// one of its folders). The actor needs `MoveResource` on the resource and
/// `CreateResource` on the destination.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveResource {
    #[serde(skip_deserializing)]
    pub target: ResourceRef,
    /// The destination workspace.
    pub workspace: Uuid,
    /// A folder of the destination workspace; none puts it at the top.
    #[serde(default)]
    pub folder: Option<Uuid>,
}

impl Command for MoveResource {
    const ACTION: &'static str = "MoveResource";
    type Output = Resource;

    fn resource(&self) -> EntityRef {
        self.target.entity()
    }
    fn org(&self) -> Uuid {
        self.target.org
    }
    fn scans(&self) -> Vec<Vec<u8>> {
        vec![keys::children_of_folder(self.target.id)]
    }

    fn validate(&self, _app: &App) -> Result<()> {
        if self.folder == Some(self.target.id) {
            return Err(Error::invalid("folder", "a folder cannot contain itself"));
        }
        Ok(())
    }

    fn authorize(&self, app: &App, actor: Actor) -> Result<Arc<PolicySnapshot>> {
        app.workspace(self.workspace)?;
        app.require(actor, Self::ACTION, self.resource())?;
        app.require(
            actor,
            "CreateResource",
            EntityRef::new("Workspace", self.workspace),
        )
    }

    fn apply(&self, tx: &Tx, _ctx: &ApplyContext) -> TxResult<Resource> {
        let mut resource: Resource =
            tx.require(&keys::resource(self.target.id), "resource", self.target.id)?;
        let destination: Workspace = tx.require(
            &keys::workspace(self.workspace),
            "workspace",
            self.workspace,
        )?;
        if destination.org != resource.org {
            return Err(Error::conflict(
                "cross_org_move",
                format!(
                    "resource {} belongs to org {} and cannot move to a workspace of another org",
                    resource.id, resource.org
                ),
            )
            .into());
        }
        if let Some(folder) = self.folder {
            require_folder(tx, folder, destination.id)?;
        }
        refuse_non_empty_folder(tx, &resource)?;
        unplace(tx, &resource)?;
        resource.workspace = destination.id;
        resource.folder = self.folder;
        tx.put(&keys::resource(resource.id), &resource)?;
        place(tx, &resource)?;
        Ok(resource)
    }
}

/// Fails with 404 unless `folder` is a folder of `workspace`: whether an
/// id names a folder there is a matter of the state, not of the input.
fn require_folder(tx: &Tx, folder: Uuid, workspace: Uuid) -> TxResult<()> {
    let parent: Option<Resource> = tx.get(&keys::resource(folder))?;
    if parent.is_some_and(|p| p.kind == "Folder" && p.workspace == workspace) {
        return Ok(());
    }
    Err(Error::not_found("folder", format!("{folder} in workspace {workspace}")).into())
}

/// Refuses to delete or move a folder that still holds resources.
fn refuse_non_empty_folder(tx: &Tx, resource: &Resource) -> TxResult<()> {
    if resource.kind == "Folder"
        && !tx
            .committed_children(&keys::children_of_folder(resource.id))?
            .is_empty()
    {
        return Err(Error::conflict(
            "folder_not_empty",
            format!(
                "folder {} still holds resources; move or delete them first",
                resource.id
            ),
        )
        .into());
    }
    Ok(())
}

/// Writes the indexes that place a resource in its workspace and folder.
fn place(tx: &Tx, resource: &Resource) -> TxResult<()> {
    tx.put(
        &keys::workspace_resource(resource.workspace, resource.id),
        &(),
    )?;
    if let Some(folder) = resource.folder {
        tx.put(&keys::folder_child(folder, resource.id), &())?;
    }
    Ok(())
}

/// Removes the indexes [`place`] wrote.
fn unplace(tx: &Tx, resource: &Resource) -> TxResult<()> {
    tx.remove(&keys::workspace_resource(resource.workspace, resource.id))?;
    if let Some(folder) = resource.folder {
        tx.remove(&keys::folder_child(folder, resource.id))?;
    }
    Ok(())
}
