//! Which org a signing-up user joins: among the orgs that verified the
//! user's email domain (in the host's order), the first one with a default
//! workspace wins and the user joins that workspace; if none has one, the
//! user joins the first org only. The role is the winner's autojoin role.

use alloc::format;
use alloc::string::String;
use core::fmt::Display;

/// An org that verified the user's email domain.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a, Id> {
    pub org_id: Id,
    pub default_workspace: Option<Id>,
    /// The WIT name of the org's autojoin role (`member`, `guest-internal`, …).
    pub role: &'a str,
}

/// The decision: the winning candidate (an index into the slice given to
/// [`autojoin`]) and whether the user joins its default workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Joining {
    pub candidate: usize,
    pub default_workspace: bool,
    pub reason: String,
}

/// Chooses the org `domain`'s user joins, or says why none.
pub fn autojoin<Id: Display>(
    domain: &str,
    candidates: &[Candidate<Id>],
) -> Result<Joining, String> {
    if let Some((i, c, ws)) = candidates
        .iter()
        .enumerate()
        .find_map(|(i, c)| c.default_workspace.as_ref().map(|ws| (i, c, ws)))
    {
        return Ok(Joining {
            candidate: i,
            default_workspace: true,
            reason: format!(
                "{domain} is a verified domain of org {}; joining its default workspace {ws} as {}",
                c.org_id, c.role
            ),
        });
    }
    match candidates.first() {
        Some(c) => Ok(Joining {
            candidate: 0,
            default_workspace: false,
            reason: format!(
                "{domain} is a verified domain of org {}, which has no default workspace; joining the organization as {}",
                c.org_id, c.role
            ),
        }),
        None => Err(format!("no organization has verified {domain}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: u32, ws: Option<u32>) -> Candidate<'static, u32> {
        Candidate {
            org_id: id,
            default_workspace: ws,
            role: "member",
        }
    }

    #[test]
    fn the_first_org_with_a_default_workspace_wins() {
        let joining = autojoin(
            "acme.com",
            &[org(1, None), org(2, Some(20)), org(3, Some(30))],
        );
        assert_eq!(
            joining,
            Ok(Joining {
                candidate: 1,
                default_workspace: true,
                reason: "acme.com is a verified domain of org 2; joining its default workspace 20 as member".into(),
            })
        );
    }

    #[test]
    fn without_default_workspaces_the_first_org_wins_alone() {
        let joining = autojoin("acme.com", &[org(1, None), org(2, None)]).unwrap();
        assert_eq!((joining.candidate, joining.default_workspace), (0, false));
        assert!(joining
            .reason
            .ends_with("which has no default workspace; joining the organization as member"));
    }

    #[test]
    fn no_candidate_no_join() {
        let none: &[Candidate<u32>] = &[];
        assert_eq!(
            autojoin("acme.com", none),
            Err("no organization has verified acme.com".into())
        );
    }
}
