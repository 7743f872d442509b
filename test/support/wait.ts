import { Effect } from "effect"

/** Waits in real time (not the TestClock) for I/O-driven state, failing the test after `ms`. */
export const waitUntil = (what: string, condition: () => boolean, ms = 10_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + ms
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  })
