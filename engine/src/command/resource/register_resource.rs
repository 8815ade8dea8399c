//! `RegisterResource`: registers a resource of a schema-declared type
//! (flows, credentials, folders…) under a workspace; a credential's secret
//! is sealed before the command runs. Needs `CreateResource` on the
//! workspace.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{place, require_folder};
use crate::app::{Actor, App};
use crate::authz::{self, EntityRef};
use crate::command::{ApplyContext, Command};
use crate::error::{Error, Result};
use crate::secrets::{CredentialKey, MAX_SECRET_BYTES};
use crate::store::{keys, Resource, Tx, TxResult, Workspace};

/// The resource type whose records may carry a sealed secret.
pub const CREDENTIAL_TYPE: &str = "Credential";

/// The most users one resource may be shared with.
pub const MAX_SHARED_WITH: usize = 100;

/// Entity types Warden derives from its own records; resources cannot use them.
const RESERVED_TYPES: [&str; 5] = ["Org", "OrgRole", "User", "Workspace", "WorkspaceRole"];
/// Attributes Warden sets itself from the resource's placement.
const RESERVED_ATTRIBUTES: [&str; 4] = ["org", "workspace", "owner", "shared_with"];

/// Registers a resource of a schema-declared type under a workspace.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterResource {
    /// The new resource's id (generated when a body is read).
    #[serde(default = "Uuid::new_v4", skip_deserializing)]
    pub id: Uuid,
    /// The workspace's org, looked up by the caller (see `App::workspace`).
    #[serde(skip_deserializing)]
    pub org: Uuid,
    /// The workspace it is registered in.
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
    /// The Cedar entity type, e.g. `Flow`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A folder of the same workspace to put it in.
    #[serde(default)]
    pub folder: Option<Uuid>,
    /// Defaults to the acting user.
    #[serde(default)]
    pub owner: Option<Uuid>,
    /// Members of the org it is shared with one by one; at most
    /// [`MAX_SHARED_WITH`].
    #[serde(default)]
    pub shared_with: Vec<Uuid>,
    /// Further attributes, as the schema declares them for its type; not
    /// those Warden sets itself (`org`, `workspace`, `owner`, `shared_with`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// A credential's secret. The handler seals it with
    /// [`seal_secret`](Self::seal_secret), which takes it out, before the
    /// command runs: it is never stored, audited or answered in the clear.
    #[serde(default)]
    pub secret: Option<String>,
    /// The secret as [`seal_secret`](Self::seal_secret) encrypted it: what
    /// is stored, beside the resource.
    #[serde(skip)]
    pub sealed_secret: Option<Vec<u8>>,
}

impl RegisterResource {
    /// Encrypts `secret` (if any) for this resource with `key`.
    pub fn seal_secret(&mut self, key: &CredentialKey) -> Result<()> {
        let Some(secret) = self.secret.take() else {
            return Ok(());
        };
        if self.kind != CREDENTIAL_TYPE {
            return Err(Error::invalid(
                "secret",
                format!("only a {CREDENTIAL_TYPE} has a secret"),
            ));
        }
        if secret.is_empty() || secret.len() > MAX_SECRET_BYTES {
            return Err(Error::invalid(
                "secret",
                format!("must be 1 to {MAX_SECRET_BYTES} bytes"),
            ));
        }
        self.sealed_secret = Some(key.seal(self.id, &secret)?);
        Ok(())
    }

    /// Whether the record describes a personal credential.
    fn personal(&self) -> bool {
        self.kind == CREDENTIAL_TYPE && self.attributes.get("personal") == Some(&Value::Bool(true))
    }

    fn record(&self, actor: Actor, now: OffsetDateTime) -> Resource {
        let acting_user = actor.user();
        Resource {
            id: self.id,
            kind: self.kind.clone(),
            org: self.org,
            workspace: self.workspace,
            folder: self.folder,
            owner: self.owner.or(acting_user),
            shared_with: self.shared_with.clone(),
            attributes: self.attributes.clone(),
            created_at: now,
        }
    }
}

impl Command for RegisterResource {
    const ACTION: &'static str = "CreateResource";
    type Output = Resource;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Workspace", self.workspace)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn validate(&self, app: &App) -> Result<()> {
        if RESERVED_TYPES.contains(&self.kind.as_str()) {
            return Err(Error::invalid(
                "type",
                format!("{} is not a workspace resource type", self.kind),
            ));
        }
        if let Some(name) = RESERVED_ATTRIBUTES
            .iter()
            .find(|a| self.attributes.contains_key(**a))
        {
            return Err(Error::invalid(
                format!("attributes.{name}"),
                "is set by Warden; use the top-level field",
            ));
        }
        if self.secret.is_some() {
            return Err(Error::Internal(
                "a secret must be sealed before the command runs".into(),
            ));
        }
        if self.shared_with.len() > MAX_SHARED_WITH {
            return Err(Error::invalid(
                "shared_with",
                format!("at most {MAX_SHARED_WITH} users"),
            ));
        }
        let probe = self.record(Actor::System, OffsetDateTime::UNIX_EPOCH);
        authz::validate_resource(&app.policies.current().schema, &probe)
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Resource> {
        let workspace: Workspace = tx.require(
            &keys::workspace(self.workspace),
            "workspace",
            self.workspace,
        )?;
        let resource = self.record(ctx.actor, ctx.now);
        if self.personal() && resource.owner.is_none() {
            return Err(Error::invalid("owner", "a personal credential needs an owner").into());
        }
        for (field, user) in resource
            .owner
            .iter()
            .map(|u| ("owner", u))
            .chain(self.shared_with.iter().map(|u| ("shared_with", u)))
        {
            if !tx.exists(&keys::membership(workspace.org, *user))? {
                return Err(Error::invalid(
                    field,
                    format!("user {user} is not a member of org {}", workspace.org),
                )
                .into());
            }
        }
        if let Some(folder) = self.folder {
            require_folder(tx, folder, workspace.id)?;
        }
        if let Some(sealed) = &self.sealed_secret {
            tx.put_raw(&keys::credential_secret(resource.id), sealed)?;
        }
        tx.put(&keys::resource(resource.id), &resource)?;
        place(tx, &resource)?;
        Ok(resource)
    }
}
