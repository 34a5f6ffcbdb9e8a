-- POST the same body on every request: wrk -s bench/wrk/post.lua <url>
-- BODY_FILE: the file whose bytes are posted; TOKEN: sent as `Authorization: Bearer`.
local file = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
