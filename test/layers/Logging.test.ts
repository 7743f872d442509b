import { Cause, Effect, Logger, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { structuredLogger } from "../../src/layers/Logging.js"
import { RabbitError } from "../../src/layers/Rabbit.js"

describe("structured logs", () => {
  it("writes one JSON object per line with level, annotations and the current span's trace id; secrets stay redacted", async () => {
    const lines: Array<string> = []
    const capture = Logger.map(structuredLogger, (line) => lines.push(line))
    const program = Effect.gen(function* () {
      const span = yield* Effect.currentSpan
      yield* Effect.logWarning("store unavailable", { url: Redacted.make("postgres://u:hunter2@db/x") })
      return span
    }).pipe(
      Effect.withSpan("CandleWriter.flush"),
      Effect.annotateLogs({ actor: "writer:candles", exchange: "binance", symbol: "BTC/USDT" }),
      Effect.zipLeft(Effect.logInfo("outside any span")),
      Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
    )
    const span = await Effect.runPromise(program)
    const [inSpan, outside] = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(inSpan).toMatchObject({
      level: "warn",
      message: "store unavailable",
      actor: "writer:candles",
      exchange: "binance",
      symbol: "BTC/USDT",
      trace_id: span.traceId,
      span_id: span.spanId,
    })
    expect(Date.parse(String(inSpan!["time"]))).not.toBeNaN()
    expect(lines.join("\n")).not.toContain("hunter2")
    expect(String(inSpan!["detail"])).toContain("<redacted>")
    expect(outside).toMatchObject({ level: "info", message: "outside any span" })
    expect(outside).not.toHaveProperty("trace_id")
  })

  it("logs an error whose cause JSON cannot hold (a circular one) with its one-line form and the cause's text", async () => {
    const lines: Array<string> = []
    const capture = Logger.map(structuredLogger, (line) => lines.push(line))
    const socketError = Object.assign(new Error("Socket closed abruptly"), { code: "ECONNRESET" })
    Object.assign(socketError, { connection: { lastError: socketError } })
    const error = new RabbitError({ op: "connect", reason: socketError.message, cause: socketError })
    await Effect.runPromise(
      Effect.logWarning("RabbitMQ lost", error).pipe(
        Effect.zipRight(Effect.logError("RabbitMQ gave up", Cause.fail(error))),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
      ),
    )
    const [asPart, asCause] = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(asPart).toMatchObject({
      level: "warn",
      message: "RabbitMQ lost",
      detail: "RabbitError: RabbitMQ connect: Socket closed abruptly",
    })
    expect(asCause).toMatchObject({ level: "error", message: "RabbitMQ gave up" })
    expect(String(asCause!["cause"])).toContain("Socket closed abruptly")
  })
})
