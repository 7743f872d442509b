import { Effect } from "effect"
import { LiveHub } from "../../../layers/LiveHub.js"
import type { SinkPlugin } from "../registry.js"

/**
 * The live page's final candles and revisions, handed to the clients watching their series (`/api/live`). It holds
 * nothing: a send never waits, and a client that cannot keep up is dropped by the hub, so this sink never applies
 * back-pressure. The open candles the page shows come from the aggregators (`actors/LiveUpdates.ts`).
 */
export const LiveSink = {
  name: "live",
  make: Effect.gen(function* () {
    const hub = yield* LiveHub
    return {
      name: "live",
      candles: (candles) => Effect.sync(() => hub.candles(candles)),
      status: () => ({
        name: "live",
        memoryRecords: 0,
        memoryCapacity: 0,
        diskRecords: 0,
        diskBytes: 0,
        diskMaxBytes: 0,
        backPressure: false,
        writing: 0,
      }),
    }
  }),
} satisfies SinkPlugin
