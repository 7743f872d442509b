// Daily candles from the raw bucket into candles_1d (kept forever).
option task = {name: "neuraltrade-candles-1d", every: 1h, offset: 45s}

from(bucket: "__RAW_BUCKET__")
    |> range(start: -3d)
    |> filter(fn: (r) => r._measurement == "market_ohlcv" and r.timeframe == "1d")
    |> to(bucket: "candles_1d")
