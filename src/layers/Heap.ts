import { setFlagsFromString } from "node:v8"
import { Effect, Layer } from "effect"
import { AppConfig } from "./AppConfig.js"

/**
 * Sets how far V8 lets the heap grow past what survived its last full collection (HEAP_GROWING_PERCENT). V8 sizes
 * that growth for short programs: at a steady allocation rate it let this daemon's heap reach 4× its live data
 * (about 220 MB in use, 330-390 MB RSS at 20,000 trades/s, `npm run bench:e2e`); at 50 % it stays near 100 MB in
 * use and about 210 MB RSS, for more frequent, incremental collections. V8 reads the flag at every full
 * collection, so setting it once the process runs takes effect from the next one.
 */
export const HeapLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const { heapGrowingPercent } = yield* AppConfig
    if (heapGrowingPercent === 0) return
    setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`)
    yield* Effect.logDebug(`V8 heap growth after a full collection: ${heapGrowingPercent} %`)
  }),
)
