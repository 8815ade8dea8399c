-- The load test's traffic (benches/load.sh), one request at a time, drawn
-- at random from the whole seeded population (population.tsv: org,
-- workspace, flow, users…; the first user is the org's Admin):
--   65 % a member running their org's flow (Allow),
--   30 % a member running another org's flow (Deny),
--    5 % a member viewing their org or its default workspace,
-- with WRITES % of the requests writes instead: a flow registered in the
-- org's workspace, or a member's role set (both through the real write
-- path, as the system actor). With BATCH > 1 each request is a batch of
-- BATCH such checks to /v1/authorize/batch (and WRITES is ignored).
--
--   wrk -s mix.lua URL -- TENANTS MODE WRITES TOKEN [BATCH]
--
-- MODE: uniform (every org alike) or zipf (org ranks drawn with
-- probability ~ 1/rank, so a few orgs are hot; ranks spread over the file).
-- WARDEN_CONSISTENCY in the environment, if set, is sent as the checks'
-- X-Warden-Consistency (full or minimize_latency).

local tenants = {}
local mode, writes, token, batch
-- Answers by status, per thread (a global: `done` reads it from each thread).
statuses = {}

function init(args)
  local path = args[1]
  mode = args[2] or "uniform"
  writes = tonumber(args[3] or "0")
  token = args[4]
  batch = tonumber(args[5] or "1")
  for line in io.lines(path) do
    local fields = {}
    for field in line:gmatch("[^\t]+") do
      fields[#fields + 1] = field
    end
    tenants[#tenants + 1] = fields
  end
  -- Each wrk thread has its own Lua state: seed each differently.
  local address = tonumber(tostring({}):match("0x(%x+)") or "0", 16)
  math.randomseed(os.time() + address)
end

local function tenant()
  local n = #tenants
  if mode == "zipf" then
    local rank = math.floor(n ^ math.random())
    return tenants[(rank * 7919) % n + 1]
  end
  return tenants[math.random(n)]
end

local function member(t)
  return t[math.random(4, #t)]
end

local function check(principal, action, kind, id)
  return string.format(
    '{"principal":{"type":"User","id":"%s"},"action":{"type":"Action","id":"%s"},"resource":{"type":"%s","id":"%s"}}',
    principal, action, kind, id)
end

local headers = {["X-Warden-Consistency"] = os.getenv("WARDEN_CONSISTENCY")}

local function post(method, path, body)
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. token
  return wrk.format(method, path, headers, body)
end

-- One check of the mix, as JSON.
local function random_check(t)
  local draw = math.random() * 100
  local who = member(t)
  if draw < 65 then
    return check(who, "RunResource", "Flow", t[3])
  elseif draw < 95 then
    return check(who, "RunResource", "Flow", tenant()[3])
  elseif draw < 97.5 then
    return check(who, "ViewOrg", "Org", t[1])
  end
  return check(who, "ViewWorkspace", "Workspace", t[2])
end

function request()
  if batch > 1 then
    local items = {}
    for i = 1, batch do
      items[i] = random_check(tenant())
    end
    return post("POST", "/v1/authorize/batch", '{"requests":[' .. table.concat(items, ",") .. ']}')
  end
  local t = tenant()
  if math.random() * 100 < writes then
    if math.random() < 0.5 or #t < 5 then
      return post("POST", "/v1/workspaces/" .. t[2] .. "/resources",
        '{"type":"Flow","attributes":{"name":"bench"}}')
    end
    return post("PATCH", "/v1/orgs/" .. t[1] .. "/members/" .. t[math.random(5, #t)],
      '{"role":"member"}')
  end
  return post("POST", "/v1/authorize", random_check(t))
end

function response(status)
  statuses[status] = (statuses[status] or 0) + 1
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done()
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      if status >= 300 then
        io.stderr:write(string.format("status %d: %d answers\n", status, count))
      end
    end
  end
end
