// Downsampled ticks: per exchange and symbol and minute, the mean of mid, spread and spread_bps, the last price
// and the summed volume, into candles_1m (90 d) as market_ticks_1m, outliving the raw ticks' 7 d.
option task = {name: "neuraltrade-ticks-1m", every: 1m, offset: 15s}

ticks =
    from(bucket: "__RAW_BUCKET__")
        |> range(start: -10m)
        |> filter(fn: (r) => r._measurement == "market_ticks")

means =
    ticks
        |> filter(fn: (r) => r._field == "mid" or r._field == "spread" or r._field == "spread_bps")
        |> aggregateWindow(every: 1m, fn: mean, createEmpty: false, timeSrc: "_start")

last =
    ticks
        |> filter(fn: (r) => r._field == "last")
        |> aggregateWindow(every: 1m, fn: last, createEmpty: false, timeSrc: "_start")

volume =
    ticks
        |> filter(fn: (r) => r._field == "volume")
        |> aggregateWindow(every: 1m, fn: sum, createEmpty: false, timeSrc: "_start")

union(tables: [means, last, volume])
    |> set(key: "_measurement", value: "market_ticks_1m")
    |> to(bucket: "candles_1m")
