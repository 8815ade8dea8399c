"""Seeds a running Warden for tests/schemathesis.sh and prints the
Schemathesis configuration that points the fuzzer at what it made.

Without it, every id the fuzzer makes up names nothing, and most operations
never get past their 404. With it, each id parameter draws a stored id most
of the time (a dictionary binding) and a generated one otherwise, so both
the operations' logic and their 404s are fuzzed.

    python3 tests/schemathesis_seed.py BASE_URL TOKEN CONFIG

appends that configuration to the file CONFIG and prints the id of the user
to act as (the Admin of the seeded org).
"""

import json
import sys
import urllib.error
import urllib.request

BASE, TOKEN = sys.argv[1], sys.argv[2]
# How often an id parameter is a stored id rather than a generated one.
STORED = 0.8


def call(method, path, body=None, actor=None):
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    if actor:
        headers["X-Warden-Actor"] = actor
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        sys.exit(f"seeding: {method} {path} answered {error.code}: {error.read().decode()}")


admin = call("POST", "/v1/users", {"email": "fuzz-admin@example.com"})["id"]
member = call("POST", "/v1/users", {"email": "fuzz-member@example.com"})["id"]
org = call("POST", "/v1/orgs", {"name": "Fuzz Org", "plan": "pro", "seat_limit": 25, "admin": admin})["id"]
call("POST", f"/v1/orgs/{org}/members", {"user": member, "role": "member"})
grant = call("POST", f"/v1/orgs/{org}/credits", {"credits": 1000000, "source": "purchase"})
call("PUT", f"/v1/orgs/{org}/billing", {
    "period_start": "2026-01-01T00:00:00Z", "period_end": "2026-02-01T00:00:00Z",
    "seat_price_cents": 1200, "overage_cap_credits": 10000,
})
workspaces = [
    call("POST", f"/v1/orgs/{org}/workspaces", {"name": name}, actor=admin)["id"]
    for name in ("Fuzz One", "Fuzz Two")
]
resources = [
    call("POST", f"/v1/workspaces/{workspaces[0]}/resources",
         {"type": kind, "attributes": {"name": f"Fuzz {kind}", **extra}}, actor=admin)["id"]
    for kind, extra in (("Flow", {}), ("Credential", {"personal": False}), ("Folder", {}))
]
invitation = call("POST", f"/v1/orgs/{org}/invitations",
                  {"email": "fuzz-invitee@example.com", "role": "member"}, actor=admin)["id"]
request = call("POST", f"/v1/workspaces/{workspaces[1]}/access-requests",
               {"message": "fuzz"}, actor=member)["id"]
call("POST", f"/v1/orgs/{org}/domains", {"domain": "fuzz.example.com"}, actor=admin)
audit = call("GET", f"/v1/orgs/{org}/audit")["items"][0]["id"]

dictionaries = {
    "org": [org],
    "user": [admin, member],
    "workspace": workspaces,
    "resource": resources,
    "invitation": [invitation],
    "request": [request],
    "domain": ["fuzz.example.com"],
    "transaction": [grant["transaction"]],
    "audit": [audit],
}
# Which dictionary each `{id}` draws from, by the path's first segment.
ids = {
    "^/v1/orgs/": "org",
    "^/v1/users/": "user",
    "^/v1/workspaces/": "workspace",
    "^/v1/resources/": "resource",
    "^/v1/ledger/transactions/": "transaction",
}
# Other parameters and body fields that name stored things.
named = {
    "path.user": "user",
    "path.invitation": "invitation",
    "path.request": "request",
    "path.domain": "domain",
    "body.admin": "user",
    "body.workspace": "workspace",
    "body.flow": "resource",
    "body.audit_id": "audit",
}

lines = ["", "# Written by tests/schemathesis_seed.py for this run."]
for name, values in dictionaries.items():
    lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}"]
lines.append("[parameters]")
for key, dictionary in named.items():
    lines.append(f'"{key}" = {{ dictionary = "{dictionary}", probability = {STORED} }}')
for prefix, dictionary in ids.items():
    lines += [
        "[[operations]]",
        f'include-path-regex = "{prefix}"',
        f'parameters = {{ "path.id" = {{ dictionary = "{dictionary}", probability = {STORED} }} }}',
    ]
# A binding sets its field even where the generated body left it out, so
# `user` is bound only where it is the one way to name the member
# (AddWorkspaceMember takes `user` or `email`, never both).
lines += [
    "[[operations]]",
    'include-name = "POST /v1/orgs/{id}/members"',
    f'parameters = {{ "body.user" = {{ dictionary = "user", probability = {STORED} }} }}',
]
with open(sys.argv[3], "a") as config:
    config.write("\n".join(lines) + "\n")
print(admin)
