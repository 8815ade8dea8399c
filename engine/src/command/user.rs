//! Creating users.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ApplyContext, Command};
use crate::app::App;
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::fields;
use crate::store::{keys, Tx, TxResult, User};

/// Creates a user; emails are unique after normalising.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// The new user's id (generated when a body is read).
    #[serde(default = "Uuid::new_v4", skip_deserializing)]
    pub id: Uuid,
    /// Their email address, stored normalised (lower-case, IDNA domain);
    /// no other user may have it.
    pub email: String,
}

impl Command for CreateUser {
    const ACTION: &'static str = "CreateUser";
    type Output = User;

    fn resource(&self) -> EntityRef {
        EntityRef::new("User", self.id)
    }
    fn org(&self) -> Uuid {
        Uuid::nil()
    }
    fn system_only(&self) -> bool {
        true
    }

    fn validate(&self, _app: &App) -> Result<()> {
        fields::email("email", &self.email).map(drop)
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<User> {
        let email = fields::email("email", &self.email)?;
        if tx.exists(&keys::user_by_email(&email))? {
            return Err(Error::conflict(
                "email_taken",
                format!("a user with email {email} already exists"),
            )
            .into());
        }
        insert_user(tx, self.id, email, ctx)
    }
}

/// Writes a new user and its email index; `email` is normalised and free.
pub(super) fn insert_user(tx: &Tx, id: Uuid, email: String, ctx: &ApplyContext) -> TxResult<User> {
    let user = User {
        id,
        email,
        created_at: ctx.now,
    };
    tx.put(&keys::user(user.id), &user)?;
    tx.put_raw(&keys::user_by_email(&user.email), user.id.as_bytes())?;
    Ok(user)
}
