//! Organizations and their members: create, update, add, change roles,
//! remove. Every role change keeps `admin_count` and `seats_used` in the
//! same transaction, and none may take an org's last Admin.
//!
//! One file per command; `members.rs` holds the ways into and out of an
//! org's and its workspaces' memberships (other domains use them too),
//! `counters.rs` the org's counters and their checked decrement.

mod add_member;
mod change_role;
mod counters;
mod create_org;
mod members;
mod remove_member;
mod set_default_workspace;
mod update_org;

pub use add_member::AddMember;
pub use change_role::ChangeRole;
pub(super) use counters::decrement;
pub use create_org::CreateOrg;
pub(super) use members::{add_workspace_member, remove_workspace_member};
pub use members::{admit_member, default_workspace_role, join_default_workspace};
pub use remove_member::RemoveMember;
pub use set_default_workspace::SetDefaultWorkspace;
pub use update_org::UpdateOrg;
