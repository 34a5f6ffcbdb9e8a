-- POST a body template with every "@R@" replaced by a number unique to this request,
-- so each request carries new alerts: wrk -s bench/wrk/unique.lua <url>
-- BODY_FILE: the template; TOKEN: sent as `Authorization: Bearer` (when set).
local file = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local template = file:read("*a")
file:close()
local token = os.getenv("TOKEN")
local counter = 0
local thread_id = 0
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
end

function request()
  counter = counter + 1
  local body = template:gsub("@R@", thread_id .. "x" .. counter)
  local headers = {["Content-Type"] = "application/json"}
  if token and token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
  return wrk.format("POST", nil, headers, body)
end
