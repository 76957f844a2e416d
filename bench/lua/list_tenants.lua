-- GET /v1/tenants?status=... : a random status, then follow next_cursor for a random number of
-- pages (deep pages included), then start over. One connection per thread keeps the chain.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local statuses = {"trial", "active", "grace", "paused", "cancelled"}
local headers
local status, cursor, pages_left

local function restart()
  status = statuses[math.random(#statuses)]
  cursor = nil
  pages_left = math.random(1, 40)
end

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  headers = common.headers()
  restart()
end

function request()
  local path = "/v1/tenants?limit=50&status=" .. status
  if cursor then
    path = path .. "&cursor=" .. cursor
  end
  return wrk.format("GET", path, headers)
end

function response(code, hdrs, body)
  local next_cursor = body and body:match('"next_cursor"%s*:%s*"([^"]+)"')
  pages_left = pages_left - 1
  if code ~= 200 or not next_cursor or pages_left <= 0 then
    restart()
  else
    cursor = next_cursor:gsub("([^%w%-%._~])", function(c)
      return string.format("%%%02X", string.byte(c))
    end)
  end
end

done = common.done
