-- benches/mix.lua's uniform traffic (65 % own flow, 30 % another org's
-- flow, 5 % views), in cedar-agent's request format.
--   wrk -s mix.lua URL -- POPULATION_TSV
local tenants = {}
function init(args)
  for line in io.lines(args[1]) do
    local f = {}
    for x in line:gmatch("[^\t]+") do f[#f + 1] = x end
    tenants[#tenants + 1] = f
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end
local function q(p, a, k, id)
  return string.format('{"principal":"User::\\"%s\\"","action":"Action::\\"%s\\"","resource":"%s::\\"%s\\""}', p, a, k, id)
end
request = function()
  local t = tenants[math.random(#tenants)]
  local who = t[math.random(4, #t)]
  local d = math.random() * 100
  local body
  if d < 65 then body = q(who, "RunResource", "Flow", t[3])
  elseif d < 95 then body = q(who, "RunResource", "Flow", tenants[math.random(#tenants)][3])
  elseif d < 97.5 then body = q(who, "ViewOrg", "Org", t[1])
  else body = q(who, "ViewWorkspace", "Workspace", t[2]) end
  return wrk.format("POST", "/v1/is_authorized", {["Content-Type"] = "application/json"}, body)
end
