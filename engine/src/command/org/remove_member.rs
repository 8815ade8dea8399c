//! `RemoveMember`: removes a member from an org and from all of its
//! workspaces. Needs `RemoveMember` on the org; never takes the org's last
//! Admin.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::counters::release_role;
use super::members::{remove_workspace_member, require_member};
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::store::{keys, Membership, Org, Tx, TxResult};

/// Removes a member from an org and from all of its workspaces.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveMember {
    /// The org the member leaves.
    #[serde(skip_deserializing)]
    pub org: Uuid,
    /// The member removed.
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
