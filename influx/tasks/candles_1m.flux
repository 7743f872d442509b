// 1m and 5m candles from the raw bucket (7 d) into candles_1m (90 d). The window covers the daemon's amend
// horizon (CANDLE_AMEND_HORIZON_MS, 1 h by default), so revised candles overwrite their copies too.
option task = {name: "neuraltrade-candles-1m", every: 1m, offset: 15s}

from(bucket: "__RAW_BUCKET__")
    |> range(start: -2h)
    |> filter(fn: (r) => r._measurement == "market_ohlcv" and (r.timeframe == "1m" or r.timeframe == "5m"))
    |> to(bucket: "candles_1m")
