-- GET /v1/tenants/{id} with ids picked at random from the file in BENCH_IDS.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local ids = {}
local headers

function init(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do
    ids[#ids + 1] = line
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  headers = common.headers()
end

function request()
  return wrk.format("GET", "/v1/tenants/" .. ids[math.random(#ids)], headers)
end

done = common.done
