//! `MoveResource`: moves a resource to another workspace of the same org
//! (optionally into one of its folders). The actor needs `MoveResource` on
//! the resource and `CreateResource` on the destination.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{place, refuse_non_empty_folder, require_folder, unplace, ResourceRef};
use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::error::{Error, Result};
use crate::policy::PolicySnapshot;
use crate::store::{keys, Resource, Tx, TxResult, Workspace};

/// Moves a resource to another workspace of the same org (optionally into
/// one of its folders). The actor needs `MoveResource` on the resource and
/// `CreateResource` on the destination.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveResource {
    /// The resource moved.
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
