# Warden's bench population (population.tsv: org, workspace, flow, users;
# the first user is the Admin, the others Members who edit the default
# workspace) as cedar-agent's data.json, with Warden's policies as its
# policies.json, for benches/versus-cedar-agent.sh.
#
#   export.py POPULATION_TSV OUT_DIR POLICY_DIR
import json, re, sys, glob
pop, out = sys.argv[1], sys.argv[2]
ents = []
def uid(t, i): return {"type": t, "id": i}
def ref(t, i): return {"__entity": uid(t, i)}
for n, line in enumerate(open(pop)):
    org, ws, flow, *users = line.split()
    ents.append({"uid": uid("Org", org), "parents": [], "attrs": {
        "name": f"org {n}", "plan": "pro", "workspace_count": 1, "seats_used": len(users),
        **{a: ref("OrgRole", f"{org}/{r}") for a, r in [("admins","admin"),("members","member"),("internal_guests","guest_internal"),("external_guests","guest_external")]}}})
    for r in ["admin","member","guest_internal","guest_external"]:
        ents.append({"uid": uid("OrgRole", f"{org}/{r}"), "parents": [uid("Org", org)], "attrs": {}})
    ents.append({"uid": uid("Workspace", ws), "parents": [uid("Org", org)], "attrs": {
        "org": ref("Org", org), "name": "Default", "is_default": True,
        **{a: ref("WorkspaceRole", f"{ws}/{r}") for a, r in [("admins","admin"),("editors","editor"),("viewers","viewer")]}}})
    for r in ["admin","editor","viewer"]:
        ents.append({"uid": uid("WorkspaceRole", f"{ws}/{r}"), "parents": [uid("Workspace", ws)], "attrs": {}})
    ents.append({"uid": uid("Flow", flow), "parents": [uid("Workspace", ws)], "attrs": {
        "org": ref("Org", org), "workspace": ref("Workspace", ws), "name": "flow", "shared_with": []}})
    for i, u in enumerate(users):
        o, w = ("admin", "admin") if i == 0 else ("member", "editor")
        ents.append({"uid": uid("User", u), "attrs": {"email": f"u{i}@org{n}.example"},
                     "parents": [uid("OrgRole", f"{org}/{o}"), uid("WorkspaceRole", f"{ws}/{w}")]})
json.dump(ents, open(f"{out}/data.json", "w"))
# `resource is T` is Cedar 3: a scope of any resource plus a condition only T meets here.
only = {"Org": "resource has seats_used", "Workspace": "resource has is_default",
        "Credential": "resource has personal", "Flow": "resource has workspace && !(resource has personal)"}
policies = []
for path in sorted(glob.glob(sys.argv[3] + "/*.cedar")):
    text = re.sub(r"//[^\n]*", "", open(path).read())
    for stmt in text.split(";"):
        if not stmt.strip(): continue
        pid = re.search(r'@id\("([^"]+)"\)', stmt).group(1)
        body = re.sub(r'@\w+\("[^"]*"\)', "", stmt).strip()
        m = re.search(r"resource is (\w+)", body)
        if m:
            body = body.replace(m.group(0), "resource")
            depth, end = 0, None
            for i, c in enumerate(body):
                depth += (c == "(") - (c == ")")
                if c == ")" and depth == 0:
                    end = i + 1
                    break
            body = body[:end] + " when { " + only[m.group(1)] + " }" + body[end:]
        policies.append({"id": pid, "content": body + ";"})
json.dump(policies, open(f"{out}/policies.json", "w"))
print(len(ents), "entities,", len(policies), "policies")
