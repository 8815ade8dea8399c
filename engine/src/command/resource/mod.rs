//! Resources (flows, credentials, folders…) in workspaces: register,
//! delete, move between workspaces of one org; credentials' secrets.
//!
//! One file per command; how a resource is placed in its workspace and
//! folder, which they share, is here.

mod delete_resource;
mod move_resource;
mod register_resource;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::authz::EntityRef;
use crate::error::Error;
use crate::store::{keys, Resource, Tx, TxResult};

pub use delete_resource::DeleteResource;
pub use move_resource::MoveResource;
pub use register_resource::{RegisterResource, CREDENTIAL_TYPE, MAX_SHARED_WITH};

/// Which resource a command is about; the handler reads its type and org
/// (the Cedar resource) from the store.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ResourceRef {
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    #[serde(skip_deserializing)]
    pub(crate) id: Uuid,
    #[serde(skip_deserializing, rename = "type")]
    pub(crate) kind: String,
}

impl ResourceRef {
    /// The reference to `resource`: its org, id and type.
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
