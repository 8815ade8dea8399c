//! Key layout. Everything lives in one sled tree so that any command can
//! change any set of records in one transaction; a one-byte tag separates the
//! record kinds and the secondary indexes. Ids are 16 raw uuid bytes, so a
//! prefix scan over `tag | id` lists exactly one parent's children.

use uuid::Uuid;

pub(super) const META: u8 = 0x00;
pub(super) const ORG: u8 = 0x01;
pub(super) const USER: u8 = 0x02;
pub(super) const USER_BY_EMAIL: u8 = 0x03;
/// `org | user` → Membership; a prefix scan on `org` lists its members.
pub(super) const MEMBERSHIP: u8 = 0x04;
/// `user | org` → (); the orgs a user belongs to.
pub(super) const USER_ORGS: u8 = 0x05;
pub(super) const WORKSPACE: u8 = 0x06;
/// `org | workspace` → (); an org's workspaces.
pub(super) const ORG_WORKSPACES: u8 = 0x07;
/// `workspace | user` → WorkspaceMember.
pub(super) const WORKSPACE_MEMBER: u8 = 0x08;
/// `user | workspace` → (); the workspaces a user belongs to.
pub(super) const USER_WORKSPACES: u8 = 0x09;
pub(super) const RESOURCE: u8 = 0x0a;
/// `workspace | resource` → (); a workspace's resources.
pub(super) const WORKSPACE_RESOURCES: u8 = 0x0b;
/// `org | uuid v7` → AuditRecord; v7 ids sort by time.
pub(super) const AUDIT: u8 = 0x0c;
/// `scope | 0x00 | key` → IdempotencyRecord.
pub(super) const IDEMPOTENCY: u8 = 0x0d;
// 0x10–0x1f: org and workspace lifecycle.
/// `org | invitation (uuid v7)` → Invitation; an org's invitations, oldest first.
pub(super) const INVITATION: u8 = 0x10;
/// `org | email` → invitation id; the one pending invitation per address.
pub(super) const PENDING_INVITATION: u8 = 0x11;
/// `workspace | request (uuid v7)` → AccessRequest.
pub(super) const ACCESS_REQUEST: u8 = 0x12;
/// `workspace | user` → request id; the one open request per user and workspace.
pub(super) const OPEN_ACCESS_REQUEST: u8 = 0x13;
/// `credential` → sealed secret (see `crate::secrets`).
pub(super) const CREDENTIAL_SECRET: u8 = 0x14;
/// `folder | resource` → (); a folder's direct children.
pub(super) const FOLDER_CHILDREN: u8 = 0x15;
// 0x20–0x2f: the ledger (`ledger::keys`).
/// Schema 1 only: `domain | 0x00 | org` → (), the orgs that verified a
/// domain; opening a schema 1 store migrates it (`store::migrate`).
pub(super) const LEGACY_DOMAIN_ORGS: u8 = 0x30;
/// `audit id` → org id, for audit records that hold plugin answers (so
/// `warden plugin replay <audit id>` finds them without the org).
pub(super) const AUDIT_ORG: u8 = 0x31;
/// `org | claim (uuid v7)` → DomainClaim; an org's domain claims, oldest first.
pub(super) const DOMAIN_CLAIM: u8 = 0x32;
/// `org | domain` → claim id; one claim per org and domain.
pub(super) const ORG_DOMAIN: u8 = 0x33;
/// `domain` → org id; the one org that holds the domain verified (sign-up's
/// only auto-join candidate).
pub(super) const DOMAIN_OWNER: u8 = 0x34;

/// Whether the record under `key` is one a check reads to build its
/// entities (`authz::entities`): writing it invalidates what checks cached.
pub(crate) fn feeds_checks(key: &[u8]) -> bool {
    matches!(
        key.first(),
        Some(&(ORG | USER | MEMBERSHIP | WORKSPACE | WORKSPACE_MEMBER | RESOURCE))
    )
}

/// The ids a check record's key names (an org and a user for a
/// membership): what a write of it changes for checks. None for a key that
/// checks do not read.
pub(crate) fn check_ids(key: &[u8]) -> impl Iterator<Item = Uuid> + '_ {
    let ids = if feeds_checks(key) {
        &key[1..]
    } else {
        &[][..]
    };
    ids.chunks_exact(16)
        .map(|id| Uuid::from_slice(id).expect("16 bytes"))
}

/// Whether `key` holds an audit record.
pub(crate) fn is_audit(key: &[u8]) -> bool {
    key.first() == Some(&AUDIT)
}

/// `tag | parts…`: one record kind's key.
pub(crate) fn join(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut key = Vec::with_capacity(len);
    key.push(tag);
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

pub(crate) fn schema_version() -> Vec<u8> {
    join(META, &[b"schema_version"])
}
pub(crate) fn org(id: Uuid) -> Vec<u8> {
    join(ORG, &[id.as_bytes()])
}
/// The prefix of every org record (`id` → Org), in id order: the vendor's
/// directory pages it with `Store::page_ids`.
pub fn orgs() -> Vec<u8> {
    vec![ORG]
}
pub(crate) fn user(id: Uuid) -> Vec<u8> {
    join(USER, &[id.as_bytes()])
}
pub(crate) fn user_by_email(email: &str) -> Vec<u8> {
    join(USER_BY_EMAIL, &[email.as_bytes()])
}
pub(crate) fn membership(org: Uuid, user: Uuid) -> Vec<u8> {
    join(MEMBERSHIP, &[org.as_bytes(), user.as_bytes()])
}
pub(crate) fn memberships_of_org(org: Uuid) -> Vec<u8> {
    join(MEMBERSHIP, &[org.as_bytes()])
}
pub(crate) fn user_org(user: Uuid, org: Uuid) -> Vec<u8> {
    join(USER_ORGS, &[user.as_bytes(), org.as_bytes()])
}
/// The prefix under which `user`'s org ids are indexed (`user | org` →
/// ()); page it with `Store::page_ids`.
pub(crate) fn orgs_of_user(user: Uuid) -> Vec<u8> {
    join(USER_ORGS, &[user.as_bytes()])
}
/// `id` → Workspace: the workspace record.
pub fn workspace(id: Uuid) -> Vec<u8> {
    join(WORKSPACE, &[id.as_bytes()])
}
pub(crate) fn org_workspace(org: Uuid, workspace: Uuid) -> Vec<u8> {
    join(ORG_WORKSPACES, &[org.as_bytes(), workspace.as_bytes()])
}
/// The prefix under which `org`'s workspace ids are indexed
/// (`org | workspace` → ()); page it with `Store::page_ids`.
pub fn workspaces_of_org(org: Uuid) -> Vec<u8> {
    join(ORG_WORKSPACES, &[org.as_bytes()])
}
pub(crate) fn workspace_member(workspace: Uuid, user: Uuid) -> Vec<u8> {
    join(WORKSPACE_MEMBER, &[workspace.as_bytes(), user.as_bytes()])
}
pub(crate) fn members_of_workspace(workspace: Uuid) -> Vec<u8> {
    join(WORKSPACE_MEMBER, &[workspace.as_bytes()])
}
pub(crate) fn user_workspace(user: Uuid, workspace: Uuid) -> Vec<u8> {
    join(USER_WORKSPACES, &[user.as_bytes(), workspace.as_bytes()])
}
pub(crate) fn resource(id: Uuid) -> Vec<u8> {
    join(RESOURCE, &[id.as_bytes()])
}
pub(crate) fn workspace_resource(workspace: Uuid, resource: Uuid) -> Vec<u8> {
    join(
        WORKSPACE_RESOURCES,
        &[workspace.as_bytes(), resource.as_bytes()],
    )
}
/// The prefix under which `workspace`'s resource ids are indexed
/// (`workspace | resource` → ()); page it with `Store::page_ids`.
pub fn resources_of_workspace(workspace: Uuid) -> Vec<u8> {
    join(WORKSPACE_RESOURCES, &[workspace.as_bytes()])
}
pub(crate) fn audit(org: Uuid, id: Uuid) -> Vec<u8> {
    join(AUDIT, &[org.as_bytes(), id.as_bytes()])
}
pub(crate) fn audit_of_org(org: Uuid) -> Vec<u8> {
    join(AUDIT, &[org.as_bytes()])
}
pub(crate) fn audit_org(id: Uuid) -> Vec<u8> {
    join(AUDIT_ORG, &[id.as_bytes()])
}
pub(crate) fn legacy_domain_orgs() -> Vec<u8> {
    vec![LEGACY_DOMAIN_ORGS]
}
pub(crate) fn domain_claim(org: Uuid, claim: Uuid) -> Vec<u8> {
    join(DOMAIN_CLAIM, &[org.as_bytes(), claim.as_bytes()])
}
pub(crate) fn domain_claims_of_org(org: Uuid) -> Vec<u8> {
    join(DOMAIN_CLAIM, &[org.as_bytes()])
}
pub(crate) fn org_domain(org: Uuid, domain: &str) -> Vec<u8> {
    join(ORG_DOMAIN, &[org.as_bytes(), domain.as_bytes()])
}
pub(crate) fn domain_owner(domain: &str) -> Vec<u8> {
    join(DOMAIN_OWNER, &[domain.as_bytes()])
}
pub(crate) fn idempotency(scope: &str, key: &str) -> Vec<u8> {
    join(IDEMPOTENCY, &[scope.as_bytes(), &[0], key.as_bytes()])
}
pub(crate) fn invitation(org: Uuid, id: Uuid) -> Vec<u8> {
    join(INVITATION, &[org.as_bytes(), id.as_bytes()])
}
pub(crate) fn invitations_of_org(org: Uuid) -> Vec<u8> {
    join(INVITATION, &[org.as_bytes()])
}
pub(crate) fn pending_invitation(org: Uuid, email: &str) -> Vec<u8> {
    join(PENDING_INVITATION, &[org.as_bytes(), email.as_bytes()])
}
pub(crate) fn access_request(workspace: Uuid, id: Uuid) -> Vec<u8> {
    join(ACCESS_REQUEST, &[workspace.as_bytes(), id.as_bytes()])
}
pub(crate) fn access_requests_of_workspace(workspace: Uuid) -> Vec<u8> {
    join(ACCESS_REQUEST, &[workspace.as_bytes()])
}
pub(crate) fn open_access_request(workspace: Uuid, user: Uuid) -> Vec<u8> {
    join(
        OPEN_ACCESS_REQUEST,
        &[workspace.as_bytes(), user.as_bytes()],
    )
}
pub(crate) fn credential_secret(credential: Uuid) -> Vec<u8> {
    join(CREDENTIAL_SECRET, &[credential.as_bytes()])
}
pub(crate) fn folder_child(folder: Uuid, resource: Uuid) -> Vec<u8> {
    join(FOLDER_CHILDREN, &[folder.as_bytes(), resource.as_bytes()])
}
pub(crate) fn children_of_folder(folder: Uuid) -> Vec<u8> {
    join(FOLDER_CHILDREN, &[folder.as_bytes()])
}
pub(crate) fn workspaces_of_user(user: Uuid) -> Vec<u8> {
    join(USER_WORKSPACES, &[user.as_bytes()])
}

/// The uuid at the end of an index key (the child id).
pub(crate) fn trailing_uuid(key: &[u8]) -> Uuid {
    let tail: [u8; 16] = key[key.len() - 16..]
        .try_into()
        .expect("index keys end with a 16-byte uuid");
    Uuid::from_bytes(tail)
}
