//! A whole-store check that every secondary index agrees with the records it
//! indexes and every counter with what it counts. It reads everything, so
//! it is a tool for tests and operators (after a crash, before a migration),
//! never part of a request.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::keys::{self, trailing_uuid};
use super::CheckRecords;
use super::{decode, AccessRequest, AccessRequestState, Invitation, InvitationStatus, Membership};
use super::{ClaimState, DomainClaim, Org, OrgRole, Resource, Store, Workspace, WorkspaceMember};
use crate::error::Result;

/// Every record of one kind, decoded.
fn records<T: DeserializeOwned>(store: &Store, tag: u8) -> Result<Vec<T>> {
    store
        .scan(&[tag])
        .map(|entry| entry.and_then(|(_, value)| decode(&value)))
        .collect()
}

/// The keys of one index, as the pairs of uuids they join.
fn pairs(store: &Store, tag: u8) -> Result<BTreeSet<(Uuid, Uuid)>> {
    store
        .scan(&[tag])
        .map(|entry| {
            let (key, _) = entry?;
            let first = trailing_uuid(&key[..17]);
            Ok((first, trailing_uuid(&key)))
        })
        .collect()
}

/// Lists every disagreement found; empty when the store is consistent.
pub fn check(store: &Store) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let orgs: BTreeMap<Uuid, Org> = records::<Org>(store, keys::ORG)?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let workspaces: BTreeMap<Uuid, Workspace> = records::<Workspace>(store, keys::WORKSPACE)?
        .into_iter()
        .map(|w| (w.id, w))
        .collect();
    let memberships: Vec<Membership> = records(store, keys::MEMBERSHIP)?;
    memberships_agree(store, &orgs, &memberships, &mut problems)?;
    workspaces_agree(store, &orgs, &workspaces, &mut problems)?;
    let members: BTreeSet<(Uuid, Uuid)> = memberships.iter().map(|m| (m.org, m.user)).collect();
    workspace_members_agree(store, &workspaces, &members, &mut problems)?;
    resources_agree(store, &workspaces, &mut problems)?;
    requests_agree(store, &workspaces, &mut problems)?;
    invitations_agree(store, &orgs, &mut problems)?;
    domains_agree(store, &orgs, &mut problems)?;
    Ok(problems)
}

/// The domain indexes agree with the claims: one `org | domain` entry per
/// claim; the owner index holds exactly the verified claims, which are
/// exactly the orgs' `verified_domains`; no schema 1 index is left.
fn domains_agree(
    store: &Store,
    orgs: &BTreeMap<Uuid, Org>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let claims: Vec<DomainClaim> = records(store, keys::DOMAIN_CLAIM)?;
    let mut by_org_domain = BTreeSet::new();
    for entry in store.scan(&[keys::ORG_DOMAIN]) {
        let (key, value) = entry?;
        // `tag | org | domain` → claim id
        let domain = String::from_utf8_lossy(&key[17..]).into_owned();
        by_org_domain.insert((trailing_uuid(&key[..17]), domain, decode::<Uuid>(&value)?));
    }
    let expected: BTreeSet<(Uuid, String, Uuid)> = claims
        .iter()
        .map(|c| (c.org, c.domain.clone(), c.id))
        .collect();
    if by_org_domain != expected {
        problems.push(format!(
            "org→domain index differs from the claims: {:?}",
            by_org_domain
                .symmetric_difference(&expected)
                .collect::<Vec<_>>()
        ));
    }
    let mut owners = BTreeSet::new();
    for entry in store.scan(&[keys::DOMAIN_OWNER]) {
        let (key, value) = entry?;
        let domain = String::from_utf8_lossy(&key[1..]).into_owned();
        owners.insert((domain, decode::<Uuid>(&value)?));
    }
    let verified: BTreeSet<(String, Uuid)> = claims
        .iter()
        .filter(|c| c.state == ClaimState::Verified)
        .map(|c| (c.domain.clone(), c.org))
        .collect();
    let of_orgs: BTreeSet<(String, Uuid)> = orgs
        .values()
        .flat_map(|o| o.verified_domains.iter().map(|d| (d.clone(), o.id)))
        .collect();
    for (what, set) in [
        ("verified claims", &verified),
        ("orgs' verified_domains", &of_orgs),
    ] {
        if &owners != set {
            problems.push(format!(
                "domain owner index differs from the {what}: {:?}",
                owners.symmetric_difference(set).collect::<Vec<_>>()
            ));
        }
    }
    if store.scan(&keys::legacy_domain_orgs()).next().is_some() {
        problems.push("the schema 1 domain index (tag 0x30) is still present".into());
    }
    Ok(())
}

fn memberships_agree(
    store: &Store,
    orgs: &BTreeMap<Uuid, Org>,
    memberships: &[Membership],
    problems: &mut Vec<String>,
) -> Result<()> {
    let index = pairs(store, keys::USER_ORGS)?;
    let expected: BTreeSet<(Uuid, Uuid)> = memberships.iter().map(|m| (m.user, m.org)).collect();
    if index != expected {
        problems.push(format!(
            "user→org index differs from memberships: {:?}",
            index.symmetric_difference(&expected).collect::<Vec<_>>()
        ));
    }
    for org in orgs.values() {
        let of_org = memberships.iter().filter(|m| m.org == org.id);
        let (mut admins, mut seats) = (0, 0);
        for m in of_org {
            admins += u32::from(m.role == OrgRole::Admin);
            seats += u32::from(m.role.takes_seat());
        }
        if (org.admin_count, org.seats_used) != (admins, seats) {
            problems.push(format!(
                "org {}: admin_count {} / seats_used {} but {admins} admins / {seats} seats held",
                org.id, org.admin_count, org.seats_used
            ));
        }
    }
    for m in memberships {
        if !orgs.contains_key(&m.org) || store.user(m.user)?.is_none() {
            problems.push(format!(
                "membership {}/{} names a missing org or user",
                m.org, m.user
            ));
        }
    }
    Ok(())
}

fn workspaces_agree(
    store: &Store,
    orgs: &BTreeMap<Uuid, Org>,
    workspaces: &BTreeMap<Uuid, Workspace>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let index = pairs(store, keys::ORG_WORKSPACES)?;
    let expected: BTreeSet<(Uuid, Uuid)> = workspaces.values().map(|w| (w.org, w.id)).collect();
    if index != expected {
        problems.push(format!(
            "org→workspace index differs from workspaces: {:?}",
            index.symmetric_difference(&expected).collect::<Vec<_>>()
        ));
    }
    for org in orgs.values() {
        let count = workspaces.values().filter(|w| w.org == org.id).count();
        if org.workspace_count as usize != count {
            problems.push(format!(
                "org {}: workspace_count {} but {count} workspaces",
                org.id, org.workspace_count
            ));
        }
        if let Some(default) = org.default_workspace {
            if workspaces.get(&default).is_none_or(|w| w.org != org.id) {
                problems.push(format!(
                    "org {}: default workspace {default} is not one of its workspaces",
                    org.id
                ));
            }
        }
    }
    Ok(())
}

fn workspace_members_agree(
    store: &Store,
    workspaces: &BTreeMap<Uuid, Workspace>,
    org_members: &BTreeSet<(Uuid, Uuid)>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let members: Vec<WorkspaceMember> = records(store, keys::WORKSPACE_MEMBER)?;
    let index = pairs(store, keys::USER_WORKSPACES)?;
    let expected: BTreeSet<(Uuid, Uuid)> = members.iter().map(|m| (m.user, m.workspace)).collect();
    if index != expected {
        problems.push(format!(
            "user→workspace index differs from workspace members: {:?}",
            index.symmetric_difference(&expected).collect::<Vec<_>>()
        ));
    }
    for m in &members {
        match workspaces.get(&m.workspace) {
            Some(w) if org_members.contains(&(w.org, m.user)) => {}
            Some(w) => problems.push(format!(
                "user {} is in workspace {} but not in its org {}",
                m.user, m.workspace, w.org
            )),
            None => problems.push(format!(
                "workspace member of missing workspace {}",
                m.workspace
            )),
        }
    }
    Ok(())
}

fn resources_agree(
    store: &Store,
    workspaces: &BTreeMap<Uuid, Workspace>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let resources: BTreeMap<Uuid, Resource> = records::<Resource>(store, keys::RESOURCE)?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let by_workspace: BTreeSet<(Uuid, Uuid)> =
        resources.values().map(|r| (r.workspace, r.id)).collect();
    if pairs(store, keys::WORKSPACE_RESOURCES)? != by_workspace {
        problems.push("workspace→resource index differs from resources".into());
    }
    let by_folder: BTreeSet<(Uuid, Uuid)> = resources
        .values()
        .filter_map(|r| r.folder.map(|f| (f, r.id)))
        .collect();
    if pairs(store, keys::FOLDER_CHILDREN)? != by_folder {
        problems.push("folder→child index differs from resources".into());
    }
    for r in resources.values() {
        if workspaces.get(&r.workspace).is_none_or(|w| w.org != r.org) {
            problems.push(format!(
                "resource {} is not in a workspace of its org {}",
                r.id, r.org
            ));
        }
        if let Some(folder) = r.folder.and_then(|f| resources.get(&f)) {
            if folder.workspace != r.workspace {
                problems.push(format!(
                    "resource {} is in a folder of another workspace",
                    r.id
                ));
            }
        }
    }
    for entry in store.scan(&[keys::CREDENTIAL_SECRET]) {
        let id = trailing_uuid(&entry?.0);
        if resources.get(&id).is_none_or(|r| r.kind != "Credential") {
            problems.push(format!("secret of missing credential {id}"));
        }
    }
    Ok(())
}

fn requests_agree(
    store: &Store,
    workspaces: &BTreeMap<Uuid, Workspace>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let requests: Vec<AccessRequest> = records(store, keys::ACCESS_REQUEST)?;
    let open: BTreeSet<(Uuid, Uuid)> = requests
        .iter()
        .filter(|r| r.state == AccessRequestState::Open)
        .map(|r| (r.workspace, r.user))
        .collect();
    if pairs(store, keys::OPEN_ACCESS_REQUEST)? != open {
        problems.push("open access request index differs from open requests".into());
    }
    for r in &requests {
        if !workspaces.contains_key(&r.workspace) {
            problems.push(format!(
                "access request {} of missing workspace {}",
                r.id, r.workspace
            ));
        }
    }
    Ok(())
}

fn invitations_agree(
    store: &Store,
    orgs: &BTreeMap<Uuid, Org>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let invitations: Vec<Invitation> = records(store, keys::INVITATION)?;
    for entry in store.scan(&[keys::PENDING_INVITATION]) {
        let (key, value) = entry?;
        let org = trailing_uuid(&key[..17]);
        let id = Uuid::from_slice(&value).unwrap_or_default();
        let points_at_pending = invitations
            .iter()
            .any(|i| i.id == id && i.org == org && i.status == InvitationStatus::Pending);
        if !points_at_pending {
            problems.push(format!(
                "pending-invitation index of org {org} names {id}, not a pending invitation"
            ));
        }
    }
    for i in &invitations {
        if !orgs.contains_key(&i.org) {
            problems.push(format!("invitation {} of missing org {}", i.id, i.org));
        }
    }
    Ok(())
}
