// Model signals from the raw bucket into signals (1 y).
option task = {name: "neuraltrade-signals", every: 1m, offset: 15s}

from(bucket: "__RAW_BUCKET__")
    |> range(start: -1h)
    |> filter(fn: (r) => r._measurement == "ml_signals")
    |> to(bucket: "signals")
