//! `RenameWorkspace`: renames a workspace. Needs `UpdateWorkspace` on the
//! workspace.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::require_workspace;
use crate::app::App;
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::error::Result;
use crate::fields;
use crate::store::{keys, Tx, TxResult, Workspace};

/// Renames a workspace.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameWorkspace {
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    #[serde(skip_deserializing)]
    pub(crate) workspace: Uuid,
    pub(crate) name: String,
}

impl Command for RenameWorkspace {
    const ACTION: &'static str = "UpdateWorkspace";
    type Output = Workspace;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Workspace", self.workspace)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn validate(&self, _app: &App) -> Result<()> {
        fields::name("name", &self.name).map(drop)
    }

    fn apply(&self, tx: &Tx, _ctx: &ApplyContext) -> TxResult<Workspace> {
        let mut workspace = require_workspace(tx, self.workspace)?;
        workspace.name = fields::name("name", &self.name)?;
        tx.put(&keys::workspace(workspace.id), &workspace)?;
        Ok(workspace)
    }
}
