# The same random questions to Warden and cedar-agent: every decision must
# agree, or the comparison compares different things (exit 1).
#
#   agree.py POPULATION_TSV WARDEN_PORT AGENT_PORT WARDEN_TOKEN QUESTIONS
import json, random, sys, http.client
pop, warden, agent, token = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
tenants = [l.split() for l in open(pop)]
w = http.client.HTTPConnection("127.0.0.1", warden); a = http.client.HTTPConnection("127.0.0.1", agent)
def ask(conn, path, body, headers):
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **headers})
    r = conn.getresponse(); return json.loads(r.read())
agree = differ = 0; allows = 0
for _ in range(int(sys.argv[5])):
    t = random.choice(tenants); who = random.choice(t[3:])
    kind = random.choice([("RunResource", "Flow", t[2]), ("RunResource", "Flow", random.choice(tenants)[2]),
                          ("ViewOrg", "Org", t[0]), ("ViewWorkspace", "Workspace", t[1]),
                          ("ViewOrg", "Org", random.choice(tenants)[0]), ("UpdateOrg", "Org", t[0])])
    act, typ, rid = kind
    dw = ask(w, "/v1/authorize", {"principal": {"type": "User", "id": who}, "action": {"type": "Action", "id": act},
             "resource": {"type": typ, "id": rid}}, {"Authorization": "Bearer " + token})["decision"]
    da = ask(a, "/v1/is_authorized", {"principal": f'User::"{who}"', "action": f'Action::"{act}"', "resource": f'{typ}::"{rid}"'}, {})["decision"]
    allows += dw == "Allow"
    if dw == da: agree += 1
    else:
        differ += 1
        if differ < 5: print("differ:", kind, who, dw, da)
print(f"agree.py: {agree} questions agree ({allows} Allow), {differ} differ")
sys.exit(1 if differ else 0)
