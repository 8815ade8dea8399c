//! Sign-up: creates (or finds) a user by email, and lets the auto-join hook
//! decide whether they join the one org that holds their email's domain
//! verified (see `command::domain`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::org::{add_workspace_member, admit_member, default_workspace_role};
use super::seat_pricing::{self, SeatQuote};
use super::user::insert_user;
use super::{ApplyContext, Command};
use crate::app::App;
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::fields;
use crate::plugin::types::{CandidateOrg, Join, JoinDecision, Signup};
use crate::plugin::PluginAnswer;
use crate::store::{keys, Org, OrgRole, Tx, TxResult, User};

/// `POST /v1/signup`: the system actor (the app's backend) signs a user up.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    /// The new user's id; the existing one's if the email is known.
    #[serde(default = "Uuid::new_v4", skip_deserializing)]
    pub(crate) id: Uuid,
    pub(crate) email: String,
    /// What the auto-join hook saw and answered (kept out of the audit
    /// record's details: it has its own `plugins` entry).
    #[serde(skip)]
    consulted: Option<Consulted>,
}

#[derive(Debug)]
struct Consulted {
    /// Whether the user existed when the hook was asked.
    existing: bool,
    signup: Signup,
    answer: PluginAnswer<JoinDecision>,
    /// The price of the seat a join takes.
    seat: Option<SeatQuote>,
}

/// What a sign-up answers: the user, and the org auto-join made them a
/// member of, if any.
#[derive(Debug, Serialize, Deserialize)]
pub struct SignUpOutcome {
    pub(crate) user: User,
    /// Whether this sign-up created the user (false: the email was known).
    pub(crate) created: bool,
    /// The org the user joined, if auto-join made them a member.
    pub(crate) joined: Option<Joined>,
    /// The auto-join decision's reason.
    pub(crate) reason: String,
    /// Who decided: a plugin's name, `builtin` or `host-guard`.
    pub(crate) decided_by: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Joined {
    pub org: Uuid,
    pub role: OrgRole,
    pub workspaces: Vec<Uuid>,
}

impl Command for SignUp {
    const ACTION: &'static str = "SignUp";
    type Output = SignUpOutcome;

    fn resource(&self) -> EntityRef {
        EntityRef::new("User", self.id)
    }

    /// The joined org's audit log records the sign-up; otherwise the
    /// system-wide one.
    fn org(&self) -> Uuid {
        self.consulted
            .as_ref()
            .and_then(|c| c.answer.output.join.as_ref())
            .map_or(Uuid::nil(), |join| join.org_id)
    }

    fn system_only(&self) -> bool {
        true
    }

    fn validate(&self, _app: &App) -> Result<()> {
        fields::email("email", &self.email).map(drop)
    }

    /// Sign-ups of one domain compete for the same orgs' seats.
    fn serial_key(&self) -> Option<String> {
        let email = fields::email("email", &self.email).ok()?;
        Some(format!("signup/{}", fields::email_domain(&email)))
    }

    fn consult(&mut self, app: &App) -> Result<Vec<PluginAnswer<serde_json::Value>>> {
        let email = fields::email("email", &self.email)?;
        let existing = app.store.user_by_email(&email)?;
        if let Some(user) = &existing {
            self.id = user.id;
        }
        let candidates = app
            .store
            .domain_owner(fields::email_domain(&email))?
            .iter()
            .map(CandidateOrg::from)
            .collect();
        let signup = Signup { email, candidates };
        let answer = app.plugins.autojoin(&signup)?;
        let seat = match &answer.output.join {
            Some(join) => seat_pricing::quote(app, join.org_id, join.role)?,
            None => None,
        };
        let mut records = vec![answer.clone().into_json()];
        records.extend(seat_pricing::answers(&seat));
        self.consulted = Some(Consulted {
            existing: existing.is_some(),
            signup,
            answer,
            seat,
        });
        Ok(records)
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<SignUpOutcome> {
        let consulted = self.consulted.as_ref().expect("consulted before apply");
        let (user, created) = find_or_create_user(tx, self.id, consulted, ctx)?;
        let decision = &consulted.answer.output;
        let joined = match &decision.join {
            Some(join) => admit(tx, join, consulted, user.id, ctx)?,
            None => None,
        };
        let mut reason = decision.reason.clone();
        if decision.join.is_some() && joined.is_none() {
            reason.push_str("; the user is already a member");
        }
        Ok(SignUpOutcome {
            user,
            created,
            joined,
            reason,
            decided_by: consulted.answer.plugin.clone(),
        })
    }
}

/// The user with the signing-up email: the one seen when the hook was
/// asked, or a new one with `id`. Someone else taking the email in between
/// makes the answer stale (the hook is asked again for the real user).
fn find_or_create_user(
    tx: &Tx,
    id: Uuid,
    consulted: &Consulted,
    ctx: &ApplyContext,
) -> TxResult<(User, bool)> {
    let email = &consulted.signup.email;
    match tx.get_raw(&keys::user_by_email(email))? {
        Some(found) if found.as_slice() == id.as_bytes() => {
            Ok((tx.require(&keys::user(id), "user", id)?, false))
        }
        None if !consulted.existing => Ok((insert_user(tx, id, email.clone(), ctx)?, true)),
        _ => Err(Error::Stale(format!("user {email} was created concurrently")).into()),
    }
}

/// Makes `user` a member of the org the hook chose, and of its workspaces,
/// unless they already are; `None` if they were. The org must still be as
/// the hook saw it and still hold the email's domain.
fn admit(
    tx: &Tx,
    join: &Join,
    consulted: &Consulted,
    user: Uuid,
    ctx: &ApplyContext,
) -> TxResult<Option<Joined>> {
    let mut org: Org = tx.require(&keys::org(join.org_id), "org", join.org_id)?;
    let seen = consulted
        .signup
        .candidates
        .iter()
        .find(|c| c.org_id == org.id);
    let owner: Option<Uuid> = tx.get(&keys::domain_owner(&consulted.signup.domain()))?;
    if seen != Some(&CandidateOrg::from(&org)) || owner != Some(org.id) {
        return Err(Error::Stale(format!("org {} changed during sign-up", org.id)).into());
    }
    if tx.exists(&keys::membership(org.id, user))? {
        return Ok(None);
    }
    seat_pricing::charge(tx, &consulted.seat, &org, user, join.role, ctx.now)?;
    admit_member(tx, &mut org, user, join.role, ctx)?;
    // The same workspace role as every other way in; a role that joins no
    // workspace (External Guests) joins none of those the hook named.
    let workspaces = match default_workspace_role(join.role) {
        Some(role) => {
            for &workspace in &join.workspace_ids {
                add_workspace_member(tx, workspace, user, role, ctx)?;
            }
            join.workspace_ids.clone()
        }
        None => Vec::new(),
    };
    tx.put(&keys::org(org.id), &org)?;
    Ok(Some(Joined {
        org: org.id,
        role: join.role,
        workspaces,
    }))
}
