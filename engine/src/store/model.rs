//! The records Warden stores. Every record has a stable uuid (or is keyed by
//! the uuids it joins). The records checks read are stored compact (their
//! times and free-form attributes through `codec`'s field formats), the
//! others as JSON: see `store::codec`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// An organization's subscription plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// The built-in seat rule bills no seats, the overage cap must be 0,
    /// and the default policies allow no workspace beyond the first.
    Free,
    /// A paid plan: the built-in seat rule bills seats beyond `seat_limit`.
    Pro,
    /// A paid plan, billed like `pro`; policies and plugins may tell them apart.
    Team,
    /// A paid plan, billed like `pro`; policies and plugins may tell them apart.
    Enterprise,
}

impl Plan {
    /// The name in the API and the Cedar `Org` entity's `plan` (`free`…).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Team => "team",
            Plan::Enterprise => "enterprise",
        }
    }
}

/// When an invitation makes its email a member of the org.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationMode {
    /// When the invited user accepts it (the email must match).
    #[default]
    OnAccept,
    /// At once: the user with that email (created if there is none) joins
    /// the org and its default workspace, and a seat beyond the limit is
    /// charged at the point of inviting.
    OnInvite,
}

/// A member's role in one organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// Manages the org, its members and its workspaces; the last one can be
    /// neither removed nor demoted.
    Admin,
    /// Works in the org's workspaces; what auto-joined users become by default.
    Member,
    /// A guest who takes a seat and views the workspaces they belong to.
    GuestInternal,
    /// A guest who takes no seat and sees only what is shared with them.
    GuestExternal,
}

impl OrgRole {
    /// Every role, highest rank first.
    pub const ALL: [OrgRole; 4] = [
        OrgRole::Admin,
        OrgRole::Member,
        OrgRole::GuestInternal,
        OrgRole::GuestExternal,
    ];

    /// The name in the API and in Cedar role ids (`guest_internal`…).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OrgRole::Admin => "admin",
            OrgRole::Member => "member",
            OrgRole::GuestInternal => "guest_internal",
            OrgRole::GuestExternal => "guest_external",
        }
    }

    /// What auto-joined users become unless the org's admins chose otherwise.
    pub fn autojoin_default() -> OrgRole {
        OrgRole::Member
    }

    /// How much the role may do: Admin 3, Member 2, Internal Guest 1,
    /// External Guest 0. Each role may do at least what those below it may.
    pub fn rank(self) -> u8 {
        match self {
            OrgRole::Admin => 3,
            OrgRole::Member => 2,
            OrgRole::GuestInternal => 1,
            OrgRole::GuestExternal => 0,
        }
    }

    /// Whether this role takes a seat: Admins, Members and Internal Guests do,
    /// External Guests do not.
    pub fn takes_seat(self) -> bool {
        self != OrgRole::GuestExternal
    }

    /// The attribute of the Cedar `Org` entity that names this role's group.
    pub fn org_attribute(self) -> &'static str {
        match self {
            OrgRole::Admin => "admins",
            OrgRole::Member => "members",
            OrgRole::GuestInternal => "internal_guests",
            OrgRole::GuestExternal => "external_guests",
        }
    }
}

/// Whether a membership grants its role right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    /// The member holds their role.
    Active,
    /// The membership is kept but grants nothing.
    Suspended,
}

/// A member's role in one workspace: admins manage the workspace and its
/// members, editors change its resources, viewers use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceRole {
    /// Manages the workspace and its members.
    Admin,
    /// Changes the workspace's resources.
    Editor,
    /// Uses the workspace's resources.
    Viewer,
}

impl WorkspaceRole {
    /// Every role, highest first.
    pub const ALL: [WorkspaceRole; 3] = [
        WorkspaceRole::Admin,
        WorkspaceRole::Editor,
        WorkspaceRole::Viewer,
    ];

    /// The name in the API and in Cedar role ids (`editor`…).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WorkspaceRole::Admin => "admin",
            WorkspaceRole::Editor => "editor",
            WorkspaceRole::Viewer => "viewer",
        }
    }

    /// The attribute of the Cedar `Workspace` entity that names this role's group.
    pub fn workspace_attribute(self) -> &'static str {
        match self {
            WorkspaceRole::Admin => "admins",
            WorkspaceRole::Editor => "editors",
            WorkspaceRole::Viewer => "viewers",
        }
    }
}

/// An organization: a tenant, with its members, workspaces and settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Org {
    /// Its id, given at creation.
    pub id: Uuid,
    /// Its display name (trimmed, non-empty).
    pub name: String,
    /// Its subscription plan; the vendor sets it.
    pub plan: Plan,
    /// Seats included in the plan; 0 means unlimited.
    pub seat_limit: u32,
    /// The domains the org holds verified (normalised), in the order they
    /// were verified; kept with the domain claims in the same transactions.
    pub verified_domains: Vec<String>,
    /// The workspace new members join (the one created with the org
    /// unless another was made the default); it cannot be deleted while it
    /// is the default. None: new members join no workspace.
    pub default_workspace: Option<Uuid>,
    /// The role users who auto-join (by a verified email domain) get.
    #[serde(default = "OrgRole::autojoin_default")]
    pub autojoin_role: OrgRole,
    /// Whether an invitation admits its email at once or when accepted.
    #[serde(default)]
    pub invitation_mode: InvitationMode,
    /// Derived counters, kept in the same transaction as the records they
    /// count: its workspaces.
    pub workspace_count: u32,
    /// Its members that take a seat: Admins, Members and Internal Guests.
    pub seats_used: u32,
    /// Its Admins; removing or demoting the last one is refused.
    pub admin_count: u32,
    /// When it was created.
    #[serde(with = "crate::store::codec::timestamp")]
    pub created_at: OffsetDateTime,
}

/// A person who can be a member of orgs and workspaces, known by email.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// Their id, given at creation.
    pub id: Uuid,
    /// Normalised: trimmed and lower-cased; unique.
    pub email: String,
    /// When the user was created.
    #[serde(with = "crate::store::codec::timestamp")]
    pub created_at: OffsetDateTime,
}

/// A user's membership of an org: one per user and org.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Membership {
    /// The org.
    pub org: Uuid,
    /// The member.
    pub user: Uuid,
    /// Their role in the org.
    pub role: OrgRole,
    /// Whether the role is granted now.
    pub status: MembershipStatus,
    /// When they joined the org.
    #[serde(with = "crate::store::codec::timestamp")]
    pub created_at: OffsetDateTime,
}

impl Membership {
    /// The role this membership grants now, if any.
    pub fn active_role(&self) -> Option<OrgRole> {
        (self.status == MembershipStatus::Active).then_some(self.role)
    }
}

/// A workspace of an org: the resources in it and the members who may
/// use them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Workspace {
    /// Its id, given at creation.
    pub id: Uuid,
    /// The org it belongs to.
    pub org: Uuid,
    /// Its display name (trimmed, non-empty).
    pub name: String,
    /// When it was created.
    #[serde(with = "crate::store::codec::timestamp")]
    pub created_at: OffsetDateTime,
}

/// A user's membership of a workspace: one per user and workspace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceMember {
    /// The workspace.
    pub workspace: Uuid,
    /// The member.
    pub user: Uuid,
    /// Their role in the workspace.
    pub role: WorkspaceRole,
    /// When they joined the workspace.
    #[serde(with = "crate::store::codec::timestamp")]
    pub created_at: OffsetDateTime,
}

/// A resource that lives in a workspace: a flow, a credential, a folder, or
/// any type the schema declares with `org` and `workspace` attributes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Resource {
    /// Its id, given at registration.
    pub id: Uuid,
    /// The Cedar entity type, e.g. `Flow`.
    pub kind: String,
    /// The org of its workspace.
    pub org: Uuid,
    /// The workspace it lives in; a move changes it.
    pub workspace: Uuid,
    /// A folder of the same workspace that contains it, if any.
    pub folder: Option<Uuid>,
    /// The user it belongs to (by default who registered it); none when
    /// the system registered it without naming one.
    pub owner: Option<Uuid>,
    /// Users it is shared with one by one (the entity's `shared_with`).
    pub shared_with: Vec<Uuid>,
    /// Further attributes, as declared by the schema for `kind`.
    #[schema(value_type = Object)]
    #[serde(with = "crate::store::codec::json_text")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// When it was registered.
    #[serde(with = "crate::store::codec::timestamp")]
    pub created_at: OffsetDateTime,
}

/// Where an invitation stands. `Expired` is never stored: a pending
/// invitation reads as expired once its `expires_at` has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    /// Sent and still valid: it can be accepted, resent or revoked.
    Pending,
    /// Its email's user became a member: when they accepted it, or at once
    /// under `on_invite`.
    Accepted,
    /// Revoked before it was accepted.
    Revoked,
    /// Pending past its `expires_at` (as read, never stored).
    Expired,
}

/// An invitation to join an org with a role, sent to an email address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Invitation {
    /// A uuid v7, so an org's invitations list oldest first.
    pub id: Uuid,
    /// The org it invites to.
    pub org: Uuid,
    /// Normalised like `User::email`.
    pub email: String,
    /// The org role the invitee gets.
    pub role: OrgRole,
    /// Where it stands when read: a pending invitation past `expires_at`
    /// reads as `expired`.
    pub status: InvitationStatus,
    /// The inviting user; none when the system invited.
    pub invited_by: Option<Uuid>,
    /// When it was sent first.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Moved forward by a resend.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The user whose membership accepting created.
    pub accepted_by: Option<Uuid>,
    /// When it was accepted or revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
}

impl Invitation {
    /// The status as of `now` (a pending invitation past its expiry is expired).
    pub fn status_at(&self, now: OffsetDateTime) -> InvitationStatus {
        if self.status == InvitationStatus::Pending && now >= self.expires_at {
            InvitationStatus::Expired
        } else {
            self.status
        }
    }

    /// The record as a reader should see it at `now`.
    pub fn as_of(mut self, now: OffsetDateTime) -> Invitation {
        self.status = self.status_at(now);
        self
    }
}

/// Where an access request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessRequestState {
    /// Waiting for a workspace admin's answer.
    Open,
    /// Approved: the user is a member of the workspace.
    Approved,
    /// Denied; the user may ask again.
    Denied,
}

/// A member's request to join a workspace they can see but do not belong to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessRequest {
    /// A uuid v7, so a workspace's requests list oldest first.
    pub id: Uuid,
    /// The org of the workspace.
    pub org: Uuid,
    /// The workspace asked for.
    pub workspace: Uuid,
    /// The requesting user.
    pub user: Uuid,
    /// What the user wrote to the workspace's admins, if anything.
    pub message: Option<String>,
    /// Where it stands.
    pub state: AccessRequestState,
    /// The workspace role granted on approval.
    pub role: Option<WorkspaceRole>,
    /// Who approved or denied it; none when the system did.
    pub decided_by: Option<Uuid>,
    /// When it was approved or denied; none while open.
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Where a domain claim stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    /// Claimed; the TXT record is not proven yet. Pending claims give nothing.
    Pending,
    /// Proven: the org is the one org that holds the domain.
    Verified,
}

/// How a domain claim was proven.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainProof {
    /// Warden found the claim's TXT record through its resolver.
    #[default]
    Dns,
    /// The vendor (the system actor) confirmed it.
    Vendor,
}

/// The DNS TXT record that proves a claim: `name` must hold `value`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TxtRecord {
    /// The DNS name: `_warden-challenge.` and the claimed domain.
    pub name: String,
    /// The text: `warden-verification=` and the claim's token.
    pub value: String,
}

/// The label under a claimed domain whose TXT record proves the claim.
pub const CHALLENGE_LABEL: &str = "_warden-challenge";
/// What the proving TXT record's value starts with; the claim's token follows.
pub const CHALLENGE_PREFIX: &str = "warden-verification=";

impl DomainClaim {
    /// A pending claim of `org` on `domain` (normalised) with a fresh token.
    pub fn pending(id: Uuid, org: Uuid, domain: &str, token: &str, now: OffsetDateTime) -> Self {
        DomainClaim {
            id,
            org,
            domain: domain.to_string(),
            state: ClaimState::Pending,
            txt_record: TxtRecord {
                name: format!("{CHALLENGE_LABEL}.{domain}"),
                value: format!("{CHALLENGE_PREFIX}{token}"),
            },
            created_at: now,
            verified_at: None,
            verified_by: None,
        }
    }

    /// The claim, proven by `proof` at `now`.
    pub fn verified(mut self, proof: DomainProof, now: OffsetDateTime) -> Self {
        self.state = ClaimState::Verified;
        self.verified_at = Some(now);
        self.verified_by = Some(proof);
        self
    }
}

/// A claim token: 122 random bits as 32 hex digits, unguessable so that
/// only someone who can publish DNS records for the domain can prove it.
pub fn claim_token() -> String {
    Uuid::new_v4().simple().to_string()
}

/// An org's claim on an email domain. Only a verified claim lets users of
/// the domain auto-join, and at most one org holds a domain verified.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DomainClaim {
    /// A uuid v7, so an org's claims list oldest first.
    pub id: Uuid,
    /// The claiming org.
    pub org: Uuid,
    /// Normalised (lower-case ASCII, punycode).
    pub domain: String,
    /// Whether it is proven yet.
    pub state: ClaimState,
    /// What to publish to prove the claim by DNS.
    pub txt_record: TxtRecord,
    /// When it was claimed.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was proven; none while pending.
    #[serde(with = "time::serde::rfc3339::option")]
    pub verified_at: Option<OffsetDateTime>,
    /// How it was proven; none while pending.
    pub verified_by: Option<DomainProof>,
}
