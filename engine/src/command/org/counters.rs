//! The org's member counters (`seats_used`, `admin_count`), kept in the
//! same transaction as every role change.

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::store::{Org, OrgRole};

/// Counts a member holding `role` in the org's counters.
pub(super) fn hold_role(org: &mut Org, role: OrgRole) {
    org.seats_used += u32::from(role.takes_seat());
    org.admin_count += u32::from(role == OrgRole::Admin);
}

/// Takes a member holding `role` off the org's counters; refuses to take
/// the last Admin. Runs inside the transaction that also writes `org`, so
/// concurrent demotions conflict on the org record and sled retries the
/// loser against the new count.
pub(super) fn release_role(org: &mut Org, role: OrgRole, user: Uuid) -> Result<()> {
    if role == OrgRole::Admin && org.admin_count <= 1 {
        return Err(Error::conflict(
            "last_admin",
            format!(
                "user {user} is the last Admin of org {}; an org must keep at least one Admin (promote another member first)",
                org.id
            ),
        ));
    }
    org.seats_used = org.seats_used.saturating_sub(u32::from(role.takes_seat()));
    org.admin_count = org
        .admin_count
        .saturating_sub(u32::from(role == OrgRole::Admin));
    Ok(())
}
