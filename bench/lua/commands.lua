-- Commands over HTTP: each thread (one connection) registers a tenant, walks it through the
-- lifecycle loop, then registers the next one.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local loop = {"activate", "start-grace", "activate", "pause", "activate", "cancel", "reactivate"}
local headers
local tenant_id, step, counter, prefix

-- setup() runs in the main Lua state; each thread gets its own number through thread:set.
local created = 0

function setup(thread)
  created = created + 1
  thread:set("bench_thread", created)
end

function init(args)
  headers = common.headers()
  counter = 0
  step = #loop
  math.randomseed(os.time() + bench_thread)
  prefix = string.format("w%d-%d-%d", os.time(), bench_thread, math.random(1000000))
end

function request()
  if tenant_id == nil or step >= #loop then
    counter = counter + 1
    tenant_id = nil
    local body = string.format('{"slug": "%s-%d", "name": "Bench %d"}', prefix, counter, counter)
    return wrk.format("POST", "/v1/tenants", headers, body)
  end
  step = step + 1
  return wrk.format("POST", "/v1/tenants/" .. tenant_id .. "/" .. loop[step], headers, "{}")
end

function response(code, hdrs, body)
  if tenant_id == nil then
    local id = body and body:match('"id"%s*:%s*"([0-9a-f%-]+)"')
    if code == 201 and id then
      tenant_id = id
      step = 0
    end
  end
end

done = common.done
