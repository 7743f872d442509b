/**
 * The throughput cost of tracing: recorded Binance trade frames through the daemon's own frame router (one
 * `Feed.frames` span per batch) and aggregator actors (an `Aggregator.finalise` span per candle flush, a
 * `traceparent` read for every batch of messages), with tracing on at the default sampling ratio and exporting
 * to a local OTLP/HTTP receiver, against tracing off (no endpoint: Effect's own tracer), in the same process.
 * Batches of 1 frame (a quiet feed: a span per frame) and of 32 frames (a busy one). Rounds interleave the modes;
 * the report is the median of the rounds.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { ConfigProvider, Effect, Fiber, Layer, Logger, LogLevel, type Mailbox, ManagedRuntime } from "effect"
import type { AggregatorMessage, AggregatorOutputs } from "../src/actors/aggregation/Aggregator.js"
import { makeAggregatorMailbox, runAggregator } from "../src/actors/aggregation/Aggregator.js"
import { fanOut } from "../src/actors/aggregation/Outputs.js"
import { makeFrameRouter } from "../src/actors/feed/FrameRouter.js"
import { candleMessage, tickMessage, tickRecord } from "../src/actors/sinks/rabbitmq/Messages.js"
import { ActivityMonitor } from "../src/domain/ActivityMonitor.js"
import { GapDetector } from "../src/domain/GapDetector.js"
import { SymbolMap } from "../src/domain/SymbolMap.js"
import { SymbolPipeline } from "../src/domain/SymbolPipeline.js"
import { SymbolStats } from "../src/domain/SymbolStats.js"
import { Watermark } from "../src/domain/Watermark.js"
import { binanceInstrument } from "../src/exchanges/binance/Venue.js"
import { VENUES } from "../src/exchanges/registry.js"
import { AppConfig, loadAppConfig } from "../src/layers/AppConfig.js"
import { TracingLive } from "../src/layers/Tracing.js"
import { buildFrames, PIPELINE_OPTIONS } from "./frames.js"

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const COPIES = Number(process.env.BENCH_COPIES ?? 40)

const { frames, symbols: venueSymbols } = buildFrames(COPIES)
const unified = venueSymbols.map((s) => `${s.slice(0, -4)}/${s.slice(-4)}`)

/** Every frame through the router in batches of `batch`, into one aggregator actor per symbol; returns trades. */
const pipeline = (batch: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      let messages = 0
      const sink = (xs: ReadonlyArray<unknown>) => Effect.sync(() => (messages += xs.length))
      const outputs: AggregatorOutputs = {
        candles: fanOut([(cs, tp) => sink(cs.map((c) => candleMessage(c, tp)))]),
        ticks: fanOut([(ts, tp) => sink(ts.map((t) => tickMessage(tickRecord(t, tp))))]),
      }
      const watermark = new Watermark()
      const routes = new Map<string, Mailbox.Mailbox<AggregatorMessage>>()
      const fibers: Array<Fiber.RuntimeFiber<void>> = []
      for (const symbol of unified) {
        const mailbox = yield* makeAggregatorMailbox(4_096)
        routes.set(symbol, mailbox)
        const pipeline = new SymbolPipeline("binance", symbol, PIPELINE_OPTIONS)
        fibers.push(
          yield* Effect.fork(runAggregator({ exchange: "binance", symbol, pipeline, watermark, mailbox, outputs })),
        )
      }
      const route = makeFrameRouter({
        exchange: "binance",
        port: {
          watermark,
          routes,
          stats: new SymbolStats(unified, 0),
          resume: new Map(),
          progress: { setMode: () => Effect.void, recordFill: () => Effect.void, start: () => Effect.void },
          due: undefined,
        },
        backfill: undefined,
        historyReachesBack: false,
        gaps: { detector: new GapDetector(), span: VENUES.binance.idSpan! },
        graceMs: 2_000,
        longestPeriodMs: 86_400_000,
        activity: new ActivityMonitor(unified, 0, 60_000, 86_400_000),
        // A benchmark's frames are all valid: a defect is a bug to stop at.
        defect: (_frame, error) => Effect.die(error),
      })
      const decode = VENUES.binance.decoder(new SymbolMap(unified, binanceInstrument))
      for (let i = 0; i < frames.length; i += batch) {
        const recvTs = Date.now()
        yield* route(
          frames.slice(i, i + batch).map((raw) => ({ raw, recvTs })),
          decode,
        )
      }
      for (const mailbox of routes.values()) yield* mailbox.end
      for (const f of fibers) yield* Fiber.join(f)
      return messages
    }),
  )

/** The receiver runs in a process of its own, as Jaeger would: its work is not the daemon's. */
const startReceiver = async () => {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(new URL("../test/support/otlp.ts", import.meta.url))],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  )
  let output = ""
  child.stdout.on("data", (d: Buffer) => (output += d.toString()))
  while (!output.includes("\n")) await new Promise((r) => setTimeout(r, 20))
  const url = output.trim()
  const stop = async () => {
    const exited = new Promise((r) => child.on("exit", r))
    child.kill("SIGTERM")
    await exited
    return Number(/spans (\d+)/.exec(output)?.[1] ?? 0)
  }
  return { url, stop }
}

const main = async () => {
  const otlp = await startReceiver()
  // The daemon's configuration with only the endpoint set: the default sampling ratio is what is measured.
  const config = await Effect.runPromise(
    loadAppConfig.pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["OTEL_EXPORTER_OTLP_ENDPOINT", otlp.url]]))),
    ),
  )
  // The router logs the id jumps between the recording's copies as gaps; the benchmark keeps quiet about them.
  const quiet = Logger.minimumLogLevel(LogLevel.None)
  const on = ManagedRuntime.make(Layer.merge(TracingLive.pipe(Layer.provide(Layer.succeed(AppConfig, config))), quiet))
  const off = ManagedRuntime.make(quiet)
  const modes = [
    { name: "tracing off", runtime: off },
    {
      name: `tracing on (ratio ${config.telemetry._tag === "Some" ? config.telemetry.value.sampleRatio : "?"})`,
      runtime: on,
    },
  ] as const
  const batches = [1, 32]
  const rates = new Map<string, Array<number>>()
  for (const m of modes) for (const b of batches) await m.runtime.runPromise(pipeline(b)) // warm-up
  for (let r = 0; r < ROUNDS; r++)
    for (const b of batches)
      for (const m of modes) {
        const start = process.hrtime.bigint()
        await m.runtime.runPromise(pipeline(b))
        const seconds = Number(process.hrtime.bigint() - start) / 1e9
        const key = `${b}|${m.name}`
        rates.set(key, [...(rates.get(key) ?? []), frames.length / seconds])
      }
  await on.dispose()
  await off.dispose()
  const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  console.log(`node ${process.version}, ${frames.length} trade frames, ${ROUNDS} rounds, median frames/s`)
  console.log(`spans exported to the receiver: ${await otlp.stop()}`)
  console.log("| frames per batch | tracing | frames/s (median) | vs off |")
  console.log("|---:|---|---:|---:|")
  for (const b of batches) {
    const base = median(rates.get(`${b}|${modes[0].name}`)!)
    for (const m of modes) {
      const x = median(rates.get(`${b}|${m.name}`)!)
      console.log(`| ${b} | ${m.name} | ${Math.round(x).toLocaleString("en-US")} | ${(x / base).toFixed(2)} |`)
    }
  }
}

await main()
