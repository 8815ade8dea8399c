#!/usr/bin/env python3
"""Writes role-matrix.json: every principal of a small two-org world x every
action on every target that action applies to, with the decision and the
deciding policies the rules below call for.

The rules are stated here in the product's terms (the documents in
`shared/seeds`: who runs an org, who builds in a workspace, what guests see,
whose terms plan and billing are), not copied from the `.cedar` files, so
the two can disagree and `cargo test` says where. When you change a rule on
purpose, change it here too, run `python3 policies/tests/role_matrix.py` and
review the diff of the JSON.
"""
import json
import os

# ---------------------------------------------------------------- actions

# The tenant's own business with its org.
TENANT_ORG_ACTIONS = ["ViewOrg", "UpdateOrg", "InviteMember", "ChangeRole", "RemoveMember",
                      "SetDefaultWorkspace", "ViewMembers", "ViewAudit", "CreateWorkspace",
                      "ViewBilling"]
WORKSPACE_ACTIONS = ["ViewWorkspace", "RequestAccess", "UpdateWorkspace", "DeleteWorkspace",
                     "ManageWorkspaceMembers", "CreateResource"]
RESOURCE_ACTIONS = ["ViewResource", "EditResource", "RunResource", "DeleteResource", "MoveResource"]
CREDENTIAL_ACTIONS = ["UseCredential", "RevealCredential"]
FLOW_ACTIONS = ["RecordUsage"]
# The vendor's terms: the plan and seat limit, the billing settings, the
# price of a run. The vendor's backend sets them; no tenant role holds them.
VENDOR_ORG_ACTIONS = ["ManagePlan", "ManageBilling"]
VENDOR_FLOW_ACTIONS = ["PriceUsage"]
VENDOR_ACTIONS = set(VENDOR_ORG_ACTIONS + VENDOR_FLOW_ACTIONS)


def actions_on(kind):
    """Every action the schema lets a user ask about a target of `kind`."""
    if kind == "Org":
        return TENANT_ORG_ACTIONS + VENDOR_ORG_ACTIONS
    if kind == "Workspace":
        return WORKSPACE_ACTIONS
    return RESOURCE_ACTIONS + {"Credential": CREDENTIAL_ACTIONS,
                               "Flow": FLOW_ACTIONS + VENDOR_FLOW_ACTIONS}.get(kind, [])


# ------------------------------------------------------------------ the world

# org -> (plan, workspace_count)
ORGS = {"acme": ("pro", 2), "globex": ("free", 1)}
# workspace -> org
WORKSPACES = {"acme-default": "acme", "acme-research": "acme", "globex-default": "globex"}
# user -> ({org: role}, {workspace: workspace role})
USERS = {
    "acme-admin": ({"acme": "admin"}, {"acme-default": "admin"}),
    "acme-editor": ({"acme": "member"}, {"acme-default": "editor"}),
    "acme-ws-admin": ({"acme": "member"}, {"acme-default": "admin"}),
    "acme-viewer": ({"acme": "member"}, {"acme-default": "viewer"}),
    "acme-outsider": ({"acme": "member"}, {"acme-research": "editor"}),
    "acme-guest-internal": ({"acme": "guest_internal"}, {"acme-default": "viewer"}),
    "acme-guest-external": ({"acme": "guest_external"}, {}),
    # Roles are per org: Admin of globex, Internal Guest of acme.
    "globex-admin-acme-guest": ({"globex": "admin", "acme": "guest_internal"}, {"globex-default": "admin", "acme-default": "viewer"}),
    "globex-admin": ({"globex": "admin"}, {"globex-default": "admin"}),
}
# resource -> (type, workspace, extra attributes)
RESOURCES = {
    "acme-flow": ("Flow", "acme-default", {"shared_with": ["acme-guest-external"]}),
    "acme-private-flow": ("Flow", "acme-default", {"shared_with": []}),
    "acme-folder": ("Folder", "acme-default", {"shared_with": []}),
    "acme-credential": ("Credential", "acme-default", {"shared_with": [], "personal": False}),
    "acme-personal-credential": ("Credential", "acme-default", {"shared_with": [], "personal": True, "owner": "acme-editor"}),
    "globex-flow": ("Flow", "globex-default", {"shared_with": []}),
}


class Target:
    """What a rule needs to know about a target, seen by one user."""

    def __init__(self, user, kind, rid):
        self.kind = kind
        orgs, workspaces = USERS[user]
        if kind == "Org":
            self.org, self.workspace, extra = rid, None, {}
        elif kind == "Workspace":
            self.org, self.workspace, extra = WORKSPACES[rid], rid, {}
        else:
            _, self.workspace, extra = RESOURCES[rid]
            self.org = WORKSPACES[self.workspace]
        self.plan, self.workspace_count = ORGS[self.org]
        # The user's role in the target's org (None: not in it) and in its workspace.
        self.org_role = orgs.get(self.org)
        self.workspace_role = workspaces.get(self.workspace)
        self.shared_with_me = user in extra.get("shared_with", [])
        self.personal = extra.get("personal", False)
        self.mine = extra.get("owner") == user


# ------------------------------------------------------------------ the rules
#
# A right: (the policy that states it, whose right it is, what it allows).
# Rights add up; a guard (below) takes away whatever the rights allow.

def rights(t):
    """The rights `t`'s user holds on it, as (policy id, actions) pairs."""
    role, ws_role, kind = t.org_role, t.workspace_role, t.kind
    in_workspace = ws_role is not None
    out = []
    if role == "admin":
        # Admins run their org: people, invitations, workspaces, domains,
        # the default workspace, the audit log; they see its billing and
        # manage every workspace and resource. Not the vendor's terms.
        if kind == "Org":
            out.append(("org-admin", TENANT_ORG_ACTIONS))
        elif kind == "Workspace":
            out.append(("org-admin-workspaces", WORKSPACE_ACTIONS))
        else:
            out.append(("org-admin-resources", RESOURCE_ACTIONS + CREDENTIAL_ACTIONS + FLOW_ACTIONS))
    if role == "member":
        # Members see the org, its people and every workspace, may create
        # workspaces ("any member in the organization can create
        # workspaces") and ask to join the others; only Admins invite and
        # manage users.
        if kind == "Org":
            out.append(("member-org", ["ViewOrg", "ViewMembers", "CreateWorkspace"]))
        if kind == "Workspace":
            out.append(("member-see-workspaces", ["ViewWorkspace", "RequestAccess"]))
            if ws_role == "admin":
                out.append(("member-workspace-admin", ["UpdateWorkspace", "ManageWorkspaceMembers", "CreateResource"]))
            if ws_role == "editor":
                out.append(("member-workspace-editor", ["CreateResource"]))
        if kind not in ("Org", "Workspace") and in_workspace:
            # Every workspace member views and runs its resources, uses and
            # reveals its shared credentials, and records the runs of its flows.
            out.append(("member-use-resources", ["ViewResource", "RunResource", "UseCredential"]))
            if kind == "Flow":
                out.append(("member-record-usage", ["RecordUsage"]))
            if kind == "Credential" and not t.personal:
                out.append(("member-reveal-workspace-credentials", ["RevealCredential"]))
            if ws_role in ("editor", "admin"):
                out.append(("member-edit-resources", ["EditResource", "DeleteResource", "MoveResource"]))
    if role == "guest_internal" and in_workspace:
        # Internal Guests view the workspaces they belong to and what is in them.
        if kind == "Workspace":
            out.append(("internal-guest-view", ["ViewWorkspace"]))
        elif kind != "Org":
            out.append(("internal-guest-view-resources", ["ViewResource"]))
    if role == "guest_external" and t.shared_with_me:
        # External Guests see only what was shared with them.
        out.append(("external-guest-shared", ["ViewResource"]))
    if kind == "Credential" and t.personal and t.mine:
        out.append(("owner-reveal-personal-credential", ["RevealCredential"]))
    return out


def guards(t, action):
    """The guards that forbid `action` on `t` whatever the rights say."""
    out = []
    if t.org_role is None:
        # Nothing crosses organizations.
        out.append("no-cross-org-on-org" if t.kind == "Org" else "no-cross-org")
    if action == "CreateWorkspace" and t.plan == "free" and t.workspace_count >= 1:
        # Workspaces beyond the default one need Pro or above.
        out.append("workspaces-need-pro")
    if t.kind == "Credential" and t.personal and not t.mine and action in (
            "ViewResource", "EditResource", "RunResource", "UseCredential", "RevealCredential", "MoveResource"):
        # A personal credential is its owner's alone. Deleting is not
        # guarded: whoever may clear the workspace may remove it, unseen.
        out.append("personal-credentials-owner-only")
    return out


def decide(user, action, kind, rid):
    """(decision, sorted deciding policy ids) under the rules above."""
    t = Target(user, kind, rid)
    forbidden = guards(t, action)
    if forbidden:
        return "Deny", sorted(forbidden)
    granted = sorted(policy for policy, actions in rights(t) if action in actions)
    return ("Allow" if granted else "Deny"), granted


# ------------------------------------------------------------------- output

def ref(kind, id_):
    return {"type": kind, "id": id_}


ROLE_GROUP = {"admin": "admins", "member": "members", "guest_internal": "internal_guests",
              "guest_external": "external_guests"}
WS_GROUP = {"admin": "admins", "editor": "editors", "viewer": "viewers"}


def entities():
    """The world as Warden's store would describe it to Cedar."""
    out = []
    for org, (plan, count) in ORGS.items():
        attrs = {"name": org, "plan": plan, "workspace_count": count, "seats_used": 3}
        for role, group in ROLE_GROUP.items():
            attrs[group] = ref("OrgRole", f"{org}/{role}")
            out.append({"uid": ref("OrgRole", f"{org}/{role}"), "attrs": {}, "parents": [ref("Org", org)]})
        out.append({"uid": ref("Org", org), "attrs": attrs, "parents": []})
    for ws, org in WORKSPACES.items():
        attrs = {"org": ref("Org", org), "name": ws, "is_default": ws.endswith("default")}
        for role, group in WS_GROUP.items():
            attrs[group] = ref("WorkspaceRole", f"{ws}/{role}")
            out.append({"uid": ref("WorkspaceRole", f"{ws}/{role}"), "attrs": {}, "parents": [ref("Workspace", ws)]})
        out.append({"uid": ref("Workspace", ws), "attrs": attrs, "parents": [ref("Org", org)]})
    for user, (orgs, workspaces) in USERS.items():
        parents = [ref("OrgRole", f"{o}/{r}") for o, r in orgs.items()]
        parents += [ref("WorkspaceRole", f"{w}/{r}") for w, r in workspaces.items()]
        out.append({"uid": ref("User", user), "attrs": {"email": f"{user}@example.com"}, "parents": parents})
    for res, (kind, ws, extra) in RESOURCES.items():
        attrs = {"org": ref("Org", WORKSPACES[ws]), "workspace": ref("Workspace", ws), "name": res,
                 "shared_with": [ref("User", u) for u in extra["shared_with"]]}
        if "personal" in extra:
            attrs["personal"] = extra["personal"]
        if "owner" in extra:
            attrs["owner"] = ref("User", extra["owner"])
        out.append({"uid": ref(kind, res), "attrs": attrs, "parents": [ref("Workspace", ws)]})
    return out


def cases():
    targets = [("Org", o) for o in ORGS] + [("Workspace", w) for w in WORKSPACES]
    targets += [(kind, res) for res, (kind, _, _) in RESOURCES.items()]
    out = []
    for user in USERS:
        for kind, rid in targets:
            for action in actions_on(kind):
                decision, reasons = decide(user, action, kind, rid)
                assert not (action in VENDOR_ACTIONS and decision == "Allow"), "a tenant holds a vendor term"
                out.append({"name": f"{user} {action} {kind}::{rid}", "principal": ref("User", user),
                            "action": action, "resource": ref(kind, rid), "decision": decision,
                            "reasons": reasons})
    return out


if __name__ == "__main__":
    doc = {"description": "Every principal x every action on every target, same org and cross org "
                          "(generated by role_matrix.py from its statement of the rules)",
           "entities": entities(), "cases": cases()}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "role-matrix.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {len(doc['cases'])} cases to {path}")
