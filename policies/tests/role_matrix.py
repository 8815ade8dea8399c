#!/usr/bin/env python3
"""Writes role-matrix.json: every org role x every action x same-org and
cross-org, with the decision and deciding policies the default rules call
for. This file is the rules' specification written a second way; when you
change a default policy on purpose, change the matching rule below, run
`python3 policies/tests/role_matrix.py` and review the diff of the JSON.
"""
import json
import os

ORG_ACTIONS = ["ViewOrg", "UpdateOrg", "InviteMember", "ChangeRole", "RemoveMember",
               "SetDefaultWorkspace", "ViewMembers", "ViewAudit", "CreateWorkspace",
               "ListWorkspaces", "ManageBilling", "ViewBilling"]
WORKSPACE_ACTIONS = ["ViewWorkspace", "RequestAccess", "UpdateWorkspace", "DeleteWorkspace",
                     "ManageWorkspaceMembers", "CreateResource"]
RESOURCE_ACTIONS = ["ViewResource", "EditResource", "RunResource", "DeleteResource", "MoveResource"]

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
ROLE_GROUP = {"admin": "admins", "member": "members", "guest_internal": "internal_guests",
              "guest_external": "external_guests"}
WS_GROUP = {"admin": "admins", "editor": "editors", "viewer": "viewers"}


def ref(kind, id_):
    return {"type": kind, "id": id_}


def entities():
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


def decide(user, action, kind, rid):
    """The default rules: returns (decision, sorted deciding policy ids)."""
    orgs, workspaces = USERS[user]
    if kind == "Org":
        org, ws, res = rid, None, None
    elif kind == "Workspace":
        org, ws, res = WORKSPACES[rid], rid, None
    else:
        ws = RESOURCES[rid][1]
        org, res = WORKSPACES[ws], RESOURCES[rid]
    role = orgs.get(org)
    ws_role = workspaces.get(ws) if ws else None

    forbids = []
    if role is None:
        forbids.append("no-cross-org-on-org" if kind == "Org" else "no-cross-org")
    plan, count = ORGS[org]
    if kind == "Org" and action == "CreateWorkspace" and count >= 1 and plan == "free":
        forbids.append("workspaces-need-pro")
    if res and res[2].get("personal") and res[2].get("owner") != user and action in (
            "ViewResource", "EditResource", "RunResource", "UseCredential", "RevealCredential", "MoveResource"):
        forbids.append("personal-credentials-owner-only")
    if forbids:
        return "Deny", sorted(forbids)

    permits = []
    if role == "admin":
        permits.append({"Org": "org-admin", "Workspace": "org-admin-workspaces"}.get(kind, "org-admin-resources"))
    if role == "member":
        if kind == "Org" and action in ("ViewOrg", "ViewMembers", "ListWorkspaces", "CreateWorkspace"):
            permits.append("member-org")
        if kind == "Workspace":
            if action in ("ViewWorkspace", "RequestAccess"):
                permits.append("member-see-workspaces")
            if ws_role == "admin" and action in ("UpdateWorkspace", "ManageWorkspaceMembers", "CreateResource"):
                permits.append("member-workspace-admin")
            if ws_role == "editor" and action == "CreateResource":
                permits.append("member-workspace-editor")
        if res and ws_role:
            if action in ("ViewResource", "RunResource", "UseCredential"):
                permits.append("member-use-resources")
            if action in ("EditResource", "DeleteResource", "MoveResource") and ws_role in ("editor", "admin"):
                permits.append("member-edit-resources")
            if action == "RevealCredential" and not res[2].get("personal"):
                permits.append("member-reveal-workspace-credentials")
    if res and action == "RevealCredential" and res[2].get("personal") and res[2].get("owner") == user:
        permits.append("owner-reveal-personal-credential")
    if role == "guest_internal" and ws_role:
        if kind == "Workspace" and action == "ViewWorkspace":
            permits.append("internal-guest-view")
        if res and action == "ViewResource":
            permits.append("internal-guest-view-resources")
    if role == "guest_external" and res and action == "ViewResource" and user in res[2]["shared_with"]:
        permits.append("external-guest-shared")
    return ("Allow" if permits else "Deny"), sorted(permits)


def cases():
    targets = [("Org", o, ORG_ACTIONS) for o in ORGS]
    targets += [("Workspace", w, WORKSPACE_ACTIONS) for w in ("acme-default", "acme-research", "globex-default")]
    for res, (kind, _, _) in RESOURCES.items():
        actions = RESOURCE_ACTIONS + (["UseCredential", "RevealCredential"] if kind == "Credential" else [])
        targets.append((kind, res, actions))
    out = []
    for user in USERS:
        for kind, rid, actions in targets:
            for action in actions:
                decision, reasons = decide(user, action, kind, rid)
                out.append({"name": f"{user} {action} {kind}::{rid}", "principal": ref("User", user),
                            "action": action, "resource": ref(kind, rid), "decision": decision,
                            "reasons": reasons})
    return out


if __name__ == "__main__":
    doc = {"description": "Every org role x every action, same org and cross org (generated by role_matrix.py)",
           "entities": entities(), "cases": cases()}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "role-matrix.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {len(doc['cases'])} cases to {path}")
