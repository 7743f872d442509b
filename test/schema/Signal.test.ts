import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { signalMessage } from "../../src/schema/Signal.js"

const decode = Schema.decodeUnknownEither(Schema.parseJson(signalMessage("binance")))

const flat = {
  exchange: "binance",
  symbol: "BTC/USDT",
  signal: "buy",
  risk_level: "medium",
  confidence: 0.91,
  prob_buy: 0.91,
  prob_hold: 0.06,
  prob_sell: 0.03,
  risk_score: 0.35,
  inference_time_ms: 12.5,
  model_version: "v2.1.0",
  timestamp: 1_700_000_000_000,
}

/** The same signal as the seed's ML engine publishes it (`MLSignal`). */
const seed = {
  symbol: "BTC/USDT",
  signal: "buy",
  riskLevel: "medium",
  confidence: 0.91,
  probabilities: { buy: 0.91, hold: 0.06, sell: 0.03 },
  riskScore: 0.35,
  inferenceTimeMs: 12.5,
  modelVersion: "v2.1.0",
  timestamp: "2023-11-14T22:13:20.000Z",
}

describe("signal messages", () => {
  it("reads the flat snake_case form as it is", () => {
    expect(decode(JSON.stringify(flat))).toEqual(Either.right(flat))
  })

  it("reads the seed's MLSignal: camelCase, nested probabilities, an ISO date, the configured exchange", () => {
    expect(decode(JSON.stringify(seed))).toEqual(Either.right(flat))
    expect(decode(JSON.stringify({ ...seed, timestamp: 1_700_000_000_000 }))).toEqual(Either.right(flat))
    expect(decode(JSON.stringify({ ...seed, exchange: "okx" }))).toEqual(Either.right({ ...flat, exchange: "okx" }))
    const { signal: _, ...withoutSignal } = seed
    expect(decode(JSON.stringify({ ...withoutSignal, signalType: "sell" }))).toEqual(
      Either.right({ ...flat, signal: "sell" }),
    )
  })

  it("refuses a signal without a direction, or with a probability outside 0..1", () => {
    const { signal: _, ...withoutSignal } = seed
    expect(Either.isLeft(decode(JSON.stringify(withoutSignal)))).toBe(true)
    expect(Either.isLeft(decode(JSON.stringify({ ...seed, probabilities: { buy: 2, hold: 0, sell: 0 } })))).toBe(true)
    expect(Either.isLeft(decode(JSON.stringify({ ...flat, prob_buy: -1 })))).toBe(true)
  })
})
