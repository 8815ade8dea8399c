//! `DeleteResource`: deletes a resource (a folder only once it is empty)
//! and its secret. Needs `DeleteResource` on the resource.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{refuse_non_empty_folder, unplace, ResourceRef};
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::store::{keys, Resource, Tx, TxResult};

/// Deletes a resource (a folder only once it is empty) and its secret.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteResource {
    /// The resource deleted.
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
