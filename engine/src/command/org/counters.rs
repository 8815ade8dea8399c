//! The org's counters (`seats_used`, `admin_count`, `workspace_count`),
//! kept in the same transaction as every change they count. A decrement is
//! checked: a counter that would go below zero disagrees with the records
//! it counts, and the command fails instead of hiding it.

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
    let seats_used = decrement(
        org.seats_used,
        u32::from(role.takes_seat()),
        "seats_used",
        org.id,
    )?;
    let admin_count = decrement(
        org.admin_count,
        u32::from(role == OrgRole::Admin),
        "admin_count",
        org.id,
    )?;
    org.seats_used = seats_used;
    org.admin_count = admin_count;
    Ok(())
}

/// `counter` less `by`, where `counter` is `what` (the field's name) of
/// `org`. Below zero is a bug or a damaged store, never a client's doing:
/// an internal error (the command writes nothing), and a panic in debug
/// builds so that tests catch it.
pub(in crate::command) fn decrement(counter: u32, by: u32, what: &str, org: Uuid) -> Result<u32> {
    let left = counter.checked_sub(by);
    debug_assert!(
        left.is_some(),
        "org {org}: {what} would go below zero ({counter} - {by})"
    );
    left.ok_or_else(|| {
        Error::Internal(format!(
            "org {org}: {what} would go below zero: the stored counter disagrees with the records it counts (run `warden check-store`)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decrement_takes_off_what_the_counter_holds() {
        assert_eq!(decrement(3, 1, "seats_used", Uuid::nil()).unwrap(), 2);
        assert_eq!(decrement(1, 1, "admin_count", Uuid::nil()).unwrap(), 0);
        assert_eq!(decrement(0, 0, "seats_used", Uuid::nil()).unwrap(), 0);
    }

    #[test]
    #[cfg_attr(
        debug_assertions,
        should_panic(expected = "workspace_count would go below zero")
    )]
    fn a_decrement_below_zero_fails_loudly() {
        let failed = decrement(0, 1, "workspace_count", Uuid::nil()).unwrap_err();
        assert!(
            matches!(&failed, Error::Internal(message) if message.contains("workspace_count would go below zero")),
            "{failed:?}"
        );
    }
}
