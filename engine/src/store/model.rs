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
    Free,
    Pro,
    Team,
    Enterprise,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
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
    Admin,
    Member,
    GuestInternal,
    GuestExternal,
}

impl OrgRole {
    pub const ALL: [OrgRole; 4] = [
        OrgRole::Admin,
        OrgRole::Member,
        OrgRole::GuestInternal,
        OrgRole::GuestExternal,
    ];

    pub fn as_str(self) -> &'static str {
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
    Active,
    Suspended,
}

/// A member's role in one workspace: admins manage the workspace and its
/// members, editors change its resources, viewers use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceRole {
    Admin,
    Editor,
    Viewer,
}

impl WorkspaceRole {
    pub const ALL: [WorkspaceRole; 3] = [
        WorkspaceRole::Admin,
        WorkspaceRole::Editor,
        WorkspaceRole::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
    pub plan: Plan,
    /// Seats included in the plan; 0 means unlimited.
    pub seat_limit: u32,
    /// The domains the org holds verified (normalised), in the order they
    /// were verified; kept with the domain claims in the same transactions.
    pub verified_domains: Vec<String>,
    pub default_workspace: Option<Uuid>,
    /// The role users who auto-join (by a verified email domain) get.
    #[serde(default = "OrgRole::autojoin_default")]
    pub autojoin_role: OrgRole,
    /// Whether an invitation admits its email at once or when accepted.
    #[serde(default)]
    pub invitation_mode: InvitationMode,
    /// Derived counters, kept in the same transaction as the records they count.
    pub workspace_count: u32,
    pub seats_used: u32,
    pub admin_count: u32,
    #[serde(with = "crate::store::codec::timestamp")]
    pub created_at: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    /// Normalised: trimmed and lower-cased; unique.
    pub email: String,
    #[serde(with = "crate::store::codec::timestamp")]
    pub created_at: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Membership {
    pub org: Uuid,
    pub user: Uuid,
    pub role: OrgRole,
    pub status: MembershipStatus,
    #[serde(with = "crate::store::codec::timestamp")]
    pub created_at: OffsetDateTime,
}

impl Membership {
    /// The role this membership grants now, if any.
    pub fn active_role(&self) -> Option<OrgRole> {
        (self.status == MembershipStatus::Active).then_some(self.role)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Workspace {
    pub id: Uuid,
    pub org: Uuid,
    pub name: String,
    #[serde(with = "crate::store::codec::timestamp")]
    pub created_at: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceMember {
    pub workspace: Uuid,
    pub user: Uuid,
    pub role: WorkspaceRole,
    #[serde(with = "crate::store::codec::timestamp")]
    pub created_at: OffsetDateTime,
}

/// A resource that lives in a workspace: a flow, a credential, a folder, or
/// any type the schema declares with `org` and `workspace` attributes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Resource {
    pub id: Uuid,
    /// The Cedar entity type, e.g. `Flow`.
    pub kind: String,
    pub org: Uuid,
    pub workspace: Uuid,
    /// A folder of the same workspace that contains it, if any.
    pub folder: Option<Uuid>,
    pub owner: Option<Uuid>,
    pub shared_with: Vec<Uuid>,
    /// Further attributes, as declared by the schema for `kind`.
    #[schema(value_type = Object)]
    #[serde(with = "crate::store::codec::json_object")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    #[serde(with = "crate::store::codec::timestamp")]
    pub created_at: OffsetDateTime,
}

/// Where an invitation stands. `Expired` is never stored: a pending
/// invitation reads as expired once its `expires_at` has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

/// An invitation to join an org with a role, sent to an email address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Invitation {
    /// A uuid v7, so an org's invitations list oldest first.
    pub id: Uuid,
    pub org: Uuid,
    /// Normalised like `User::email`.
    pub email: String,
    pub role: OrgRole,
    pub status: InvitationStatus,
    /// The inviting user; none when the system invited.
    pub invited_by: Option<Uuid>,
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
    Open,
    Approved,
    Denied,
}

/// A member's request to join a workspace they can see but do not belong to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessRequest {
    /// A uuid v7, so a workspace's requests list oldest first.
    pub id: Uuid,
    pub org: Uuid,
    pub workspace: Uuid,
    /// The requesting user.
    pub user: Uuid,
    pub message: Option<String>,
    pub state: AccessRequestState,
    /// The workspace role granted on approval.
    pub role: Option<WorkspaceRole>,
    /// Who approved or denied it; none when the system did.
    pub decided_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
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
    pub name: String,
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
    pub org: Uuid,
    /// Normalised (lower-case ASCII, punycode).
    pub domain: String,
    pub state: ClaimState,
    /// What to publish to prove the claim by DNS.
    pub txt_record: TxtRecord,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub verified_at: Option<OffsetDateTime>,
    pub verified_by: Option<DomainProof>,
}
