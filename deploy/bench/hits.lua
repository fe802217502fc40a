-- wrk script: GETs cycling round-robin over /obj/0 .. /obj/N-1 (?size=S).
-- usage: wrk ... -s hits.lua URL -- N S
local reqs, n, i = {}, 1000, 0

function init(args)
  n = tonumber(args[1]) or 1000
  local size = tonumber(args[2]) or 1024
  for k = 0, n - 1 do
    reqs[k] = wrk.format("GET", "/obj/" .. k .. "?size=" .. size)
  end
end

function request()
  local r = reqs[i]
  i = (i + 1) % n
  return r
end
