// 15m, 1h and 4h candles from the raw bucket into candles_long (1 y).
option task = {name: "neuraltrade-candles-long", every: 15m, offset: 30s}

from(bucket: "__RAW_BUCKET__")
    |> range(start: -6h)
    |> filter(
        fn: (r) => r._measurement == "market_ohlcv" and (r.timeframe == "15m" or r.timeframe == "1h" or r.timeframe == "4h"),
    )
    |> to(bucket: "candles_long")
