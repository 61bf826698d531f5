-- wrk script: replays a pre-signed corpus of Twilio webhooks, each request exactly once.
--
-- benchmarks/wrk_cluster.py writes the corpus into a directory passed after `--`:
--   expect.tsv          turn <TAB> HTTP status <TAB> kind <TAB> text the answer must contain
--                       (kind: "gather" = its <Gather action> names seq=turn, "final" = the
--                       last answer of a call, no <Gather>; "empty" = a 204)
--   marker.txt          text found only in the fallback answer (apology + hand-off)
--   thread-<id>.tsv     turn <TAB> path?query <TAB> X-Twilio-Signature <TAB> form body
-- Each thread reads only its own file, so threads share no calls and nothing at run time.
--
-- The server cannot be asked twice for the same turn (a repeat is answered from the
-- idempotency cache, cheaply, and would inflate the figures), so a thread that runs out of
-- corpus stops and says so; the benchmark then reports the run as invalid.
--
-- Requests and responses cannot be paired in wrk, so answers are checked by what they
-- say: an answer's <Gather action> names the turn it answers, which must contain that
-- turn's text. Per turn, answers must never outnumber requests sent: an answer to a turn
-- that was not asked is a turn delivered out of order (answered with the previous answer).

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   -- wrk calls request() once in the first thread to check its format, and sends nothing.
   thread:set("verifying", next_id == 0)
   table.insert(threads, thread)
   next_id = next_id + 1
end

function init(args)
   local dir = args[1]
   expect, gather_turn, final_turn, empty_turn = {}, {}, nil, nil
   sent, answered = {}, {}
   for line in io.lines(dir .. "/expect.tsv") do
      local turn, status, kind, text = line:match("^(%d+)\t(%d+)\t(%a+)\t(.*)$")
      turn = tonumber(turn)
      expect[turn] = text
      sent[turn], answered[turn] = 0, 0
      if kind == "final" then final_turn = turn elseif kind == "empty" then empty_turn = turn end
   end
   marker = io.open(dir .. "/marker.txt"):read("*a")

   corpus, turns = {}, {}
   local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
   for line in io.lines(dir .. "/thread-" .. id .. ".tsv") do
      local turn, path, signature, body = line:match("^(%d+)\t([^\t]+)\t([^\t]+)\t(.*)$")
      headers["X-Twilio-Signature"] = signature
      corpus[#corpus + 1] = wrk.format("POST", path, headers, body)
      turns[#turns + 1] = tonumber(turn)
   end
   position = 0
   exhausted, bad_status, fallbacks, unexpected = 0, 0, 0, 0
end

function request()
   if verifying then
      verifying = false
      return corpus[1]
   end
   if position == #corpus then
      if exhausted == 0 then
         wrk.thread:stop()
      end
      exhausted = exhausted + 1
      return wrk.format("GET", "/healthz")  -- touches no call; the run is void anyway
   end
   position = position + 1
   local turn = turns[position]
   sent[turn] = sent[turn] + 1
   return corpus[position]
end

function response(status, headers, body)
   local turn
   if status == 204 then
      turn = empty_turn
   elseif status == 200 then
      if body:find(marker, 1, true) then
         fallbacks = fallbacks + 1
         return
      end
      local seq = body:match('<Gather[^>]- action="[^"]-seq=(%d+)')
      if seq then
         turn = tonumber(seq)
      elseif body:find("<Hangup", 1, true) then
         turn = final_turn
      end
   else
      bad_status = bad_status + 1
      return
   end
   if turn == nil or expect[turn] == nil or not body:find(expect[turn], 1, true) then
      unexpected = unexpected + 1
      return
   end
   answered[turn] = answered[turn] + 1
end

local function json_list(values)
   local out = {}
   for turn = 1, #values do
      out[turn] = string.format("%d", values[turn])
   end
   return "[" .. table.concat(out, ",") .. "]"
end

function done(summary, latency, requests)
   local totals = {exhausted = 0, bad_status = 0, fallbacks = 0, unexpected = 0}
   local sent_all, answered_all = {}, {}
   for _, thread in ipairs(threads) do
      for name in pairs(totals) do
         totals[name] = totals[name] + thread:get(name)
      end
      local s, a = thread:get("sent"), thread:get("answered")
      for turn = 1, #s do
         sent_all[turn] = (sent_all[turn] or 0) + s[turn]
         answered_all[turn] = (answered_all[turn] or 0) + a[turn]
      end
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_RESULT {"duration_us":%d,"responses":%d,"connect":%d,"read":%d,"write":%d,'
         .. '"timeout":%d,"exhausted":%d,"bad_status":%d,"fallbacks":%d,"unexpected":%d,'
         .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"sent":%s,"answered":%s}\n',
      summary.duration, summary.requests, e.connect, e.read, e.write, e.timeout,
      totals.exhausted, totals.bad_status, totals.fallbacks, totals.unexpected,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      json_list(sent_all), json_list(answered_all)))
end
