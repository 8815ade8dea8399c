//! `SetDefaultWorkspace`: makes one of the org's workspaces its default
//! (where new members land). Needs `SetDefaultWorkspace` on the org.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::error::Error;
use crate::store::{keys, Org, Tx, TxResult};

/// Makes one of the org's workspaces its default (where new members land).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDefaultWorkspace {
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    pub(crate) workspace: Uuid,
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
