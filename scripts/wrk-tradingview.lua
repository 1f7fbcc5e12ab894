-- wrk script: POSTs TradingView-shaped alert bodies to the webhook, each
-- unique by a counter in `order_id`, with no `time` and no `request_id`
-- (what a TradingView alert template usually sends).
--   wrk -t2 -c64 -d10s --latency -s scripts/wrk-tradingview.lua \
--       http://$HTTP/webhooks/tradingview -- "$(cat $DATA/webhook.secret)"
-- A second argument `request_id` adds an increasing `request_id` to every
-- body, as `tpctl bench --target webhook` does (its UUIDv7 ids are time
-- ordered too), to compare the two shapes with one load generator.
local counter = 0
local passphrase = "bench"
local with_request_id = false
local thread_tag = ""
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  if args[1] then passphrase = args[1] end
  with_request_id = args[2] == "request_id"
  -- Each thread and run has its own tag, so that bodies never collide.
  thread_tag = string.format("%d-%d", os.time(), thread_number)
end

function request()
  counter = counter + 1
  local request_id = ""
  if with_request_id then
    request_id = string.format('"request_id":"%s-%012d",', thread_tag, counter)
  end
  local body = request_id .. string.format(
    '"passphrase":"%s","strategy":"ema-cross","ticker":"BINANCE:BTCUSDT","exchange":"BINANCE",' ..
    '"action":"buy","contracts":"0.001","price":"64120.5","order_id":"Long-%s-%d",' ..
    '"market_position":"long","position_size":"0.001","comment":"ema cross up","interval":"15"}',
    passphrase, thread_tag, counter)
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, "{" .. body)
end
