/**
 * The whole daemon process against the replay exchange's synthetic source: steps of offered trade rate, each with
 * a fresh database, vhost and bucket, every sink on (PostgreSQL, RabbitMQ drained by a consumer, InfluxDB) and
 * then PostgreSQL only, beside a bare `ws` client that reads and `JSON.parse`s the same stream (the ceiling).
 *
 *   npm run build && npm run bench:e2e -- [--rates 5000,10000,20000,40000,80000] [--seconds 60] [--symbols 20]
 *                                         [--modes all,postgres,bare]
 *
 * Per step it reports the rate the daemon received, the worst lag (trades offered but not yet received, in
 * seconds of the offered rate), p99 exchange time → sink per sink, peak RSS (sampled from /proc), and whether
 * every trade reached every sink, counted at the sink: PostgreSQL as the sum of `trades` over the 1m candles,
 * RabbitMQ as ticks consumed (by id) and candles, InfluxDB as `market_ticks` points.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import amqp from "amqplib"
import WebSocket from "ws"
import { INFLUX, influxQuery, scratchBucket } from "../test/support/influx.js"
import { query, scratchDatabase } from "../test/support/postgres.js"
import { freePort, startDaemon, startReplay, until } from "../test/support/daemon.js"
import { startTcpProxy } from "../test/support/tcpProxy.js"
import { scrape, total } from "../test/support/prometheus.js"
import { type CpuSnapshot, coresUsed, cpuSnapshot } from "./cpu.js"

const { values } = parseArgs({
  options: {
    rates: { type: "string", default: "5000,10000,20000,40000,80000" },
    seconds: { type: "string", default: "60" },
    symbols: { type: "string", default: "20" },
    modes: { type: "string", default: "bare,all,postgres" },
    // Seconds InfluxDB is unreachable in every step with every sink on (0: none), from `outage-after` seconds in.
    outage: { type: "string", default: "0" },
    "outage-after": { type: "string", default: "60" },
  },
})
const RATES = values.rates.split(",").map(Number)
const SECONDS = Number(values.seconds)
const SYMBOLS = Array.from({ length: Number(values.symbols) }, (_, i) => `S${String(i).padStart(2, "0")}/USDT`)
type Mode = "all" | "postgres" | "bare"
const MODES = values.modes.split(",") as Array<Mode>
const OUTAGE_MS = Number(values.outage) * 1_000
const OUTAGE_AFTER_MS = Number(values["outage-after"]) * 1_000
/** After the source stops, how long a step may take to catch up before it counts as not held. */
const CATCH_UP_LIMIT_MS = 120_000

interface Step {
  readonly mode: Mode
  readonly offered: number
  received: number
  worstLagS: number
  catchUpS: number
  peakRssMb: number
  /** The most V8 heap in use at a scrape: live objects and garbage not yet collected. */
  peakHeapMb: number
  readonly p99: Record<string, number>
  readonly complete: Record<string, boolean>
  readonly detail: Array<string>
  /** RSS samples (ms since the first trade, MB), kept when the step has an outage. */
  readonly rss: Array<readonly [number, number]>
}

const rssMb = (pid: number): number => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return m === null ? 0 : Number(m[1]) / 1024
  } catch {
    return 0
  }
}

const p99 = (xs: Array<number>): number => {
  if (xs.length === 0) return Number.NaN
  xs.sort((a, b) => a - b)
  return xs[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!
}

/** The 99th percentile of a Prometheus histogram (upper bucket bound), from the daemon's own end-to-end timer. */
/** The bucket bound under which a quantile of a histogram's samples falls (an upper bound, never interpolated). */
const histogramQuantile = (
  samples: Awaited<ReturnType<typeof scrape>>,
  name: string,
  labels: Record<string, string>,
  q: number,
) => {
  const buckets = samples
    .filter((s) => s.name === `${name}_bucket` && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .map((s) => ({ le: s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le), n: s.value }))
    .sort((a, b) => a.le - b.le)
  const count = buckets.at(-1)?.n ?? 0
  if (count === 0) return Number.NaN
  return buckets.find((b) => b.n >= count * q)?.le ?? Number.NaN
}
const histogramP99 = (samples: Awaited<ReturnType<typeof scrape>>, name: string, labels: Record<string, string>) =>
  histogramQuantile(samples, name, labels, 0.99)

const rabbitctl = (...args: Array<string>) => execFileSync("rabbitmqctl", ["-q", ...args], { stdio: "pipe" })

const replayArgs = (rate: number) => [
  // Exchange times start when the tape does, so that exchange time → sink latency is not offset by start-up.
  "--shift-to-now",
  "--rate",
  String(rate),
  "--count",
  String(rate * SECONDS),
  "--symbols",
  SYMBOLS.join(","),
]

/**
 * The replay exchange stands in for the exchange's servers, which do not share the daemon's two cores. It allocates
 * three frames per trade and keeps every trade for its REST history; with a young generation of 64 MB instead of
 * V8's 16, its own collections took 0.62 cores at 30,000 trades/s instead of 0.80 (two runs each, alone).
 */
// e.g. BENCH_REPLAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/rprof" to profile the replay exchange beside the daemon.
const REPLAY_NODE_ARGS = [
  "--max-semi-space-size=64",
  ...(process.env.BENCH_REPLAY_NODE_ARGS ?? "").split(" ").filter((a) => a !== ""),
]

/**
 * The distinct ticks consumed, by symbol and trade id. Ids that are whole numbers are kept as numbers, which a Set
 * holds without a string each: a step at 30,000/s consumes 1.8 million ticks, on the cores the daemon is measured on.
 */
class TickIds {
  private readonly bySymbol = new Map<string, Set<number | string>>()
  size = 0

  add(symbol: string, tradeId: string): void {
    let ids = this.bySymbol.get(symbol)
    if (ids === undefined) this.bySymbol.set(symbol, (ids = new Set()))
    const n = Number(tradeId)
    const before = ids.size
    ids.add(Number.isSafeInteger(n) && String(n) === tradeId ? n : tradeId)
    this.size += ids.size - before
  }
}

const replaySent = async (url: string): Promise<{ sent: number; done: boolean }> => {
  const status = (await (await fetch(`${url}/control/status`)).json()) as Record<
    string,
    { sent: number; done: boolean }
  >
  return status.binance!
}

/** The ceiling: one plain ws client subscribed like the daemon, parsing every frame and nothing more. */
const bareClient = async (rate: number, step: Step) => {
  const replay = await startReplay(replayArgs(rate), REPLAY_NODE_ARGS)
  const control = replay.env.BINANCE_REST_URL!.replace(/\/binance$/, "")
  const streams = SYMBOLS.flatMap((s) => {
    const id = s.replace("/", "").toLowerCase()
    return [`${id}@trade`, `${id}@bookTicker`]
  })
  const ws = new WebSocket(`${replay.env.BINANCE_WS_URL}/stream`)
  ws.on("open", () => ws.send(JSON.stringify({ method: "SUBSCRIBE", params: streams, id: 1 })))
  let trades = 0
  let started = 0
  let cpuFrom: CpuSnapshot | undefined
  ws.on("message", (data) => {
    const frame = JSON.parse(String(data)) as { data?: { e?: string } }
    if (frame.data?.e === "trade") {
      if (trades++ === 0) {
        started = Date.now()
        cpuFrom = cpuSnapshot()
      }
    }
  })
  const expected = rate * SECONDS
  await until(
    "the bare client to read every trade",
    async () => {
      const { sent } = await replaySent(control)
      // Behind the tape's schedule, as for the daemon: a replay that cannot keep it is this machine's ceiling.
      const due = started === 0 ? 0 : Math.min(expected, (rate * (Date.now() - started)) / 1_000)
      step.worstLagS = Math.max(step.worstLagS, (Math.max(sent / 2, due) - trades) / rate)
      return trades >= expected
    },
    SECONDS * 1_000 + CATCH_UP_LIMIT_MS,
  ).catch((e: Error) => step.detail.push(e.message))
  if (cpuFrom !== undefined) step.detail.push(coresUsed(cpuFrom, cpuSnapshot()))
  step.received = trades / Math.max(0.001, (Date.now() - started) / 1_000)
  step.complete.ws = trades === expected
  ws.close()
  await replay.stop()
}

const daemonStep = async (mode: Exclude<Mode, "bare">, rate: number, step: Step) => {
  const db = scratchDatabase("bench_e2e")
  await db.start()
  const databaseUrl = await db.create()
  const vhost = `bench-e2e-${process.pid}-${Date.now()}`
  const bucket = mode === "all" ? await scratchBucket() : undefined
  const dataDir = mkdtempSync(join(tmpdir(), "bench-e2e-"))
  let conn: amqp.ChannelModel | undefined
  const outage = mode === "all" && OUTAGE_MS > 0
  // InfluxDB through a forwarder the step can cut: the outage of one sink, the others up.
  const influxLink = outage
    ? await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(INFLUX.proxy).port) })
    : undefined
  const ticks = new TickIds()
  const candles = new Set<string>()
  const tickLatency: Array<number> = []
  try {
    const env: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      DATA_DIR: dataDir,
      LOG_LEVEL: "WARN",
      RECONCILE_INTERVAL_MS: "0",
      CANDLE_GRACE_MS: "2000",
    }
    if (mode === "all") {
      rabbitctl("add_vhost", vhost)
      rabbitctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
      env.RABBITMQ_URL = `amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(vhost)}`
      env.INFLUX_URL = influxLink === undefined ? INFLUX.proxy : `http://127.0.0.1:${influxLink.port}`
      // An outage's points wait on disk: five minutes at 20,000/s are about 1 GB of lines.
      if (outage) env.SINK_DISK_MAX_MB = "8192"
      env.INFLUX_TOKEN = INFLUX.token
      env.INFLUX_ORG = INFLUX.org
      env.INFLUX_BUCKET = bucket!.name
    }
    // e.g. BENCH_DAEMON_ENV="SINK_BUFFER_RECORDS=100000,TICK_BATCH_MAX=500" to measure a setting's effect.
    for (const kv of process.env.BENCH_DAEMON_ENV?.split(",") ?? []) {
      const [k, ...v] = kv.split("=")
      if (k) env[k] = v.join("=")
    }
    const replay = await startReplay(replayArgs(rate), REPLAY_NODE_ARGS)
    const control = replay.env.BINANCE_REST_URL!.replace(/\/binance$/, "")
    const httpPort = await freePort()
    const daemon = startDaemon(
      {
        ...env,
        FEEDS: "binance",
        BINANCE_SYMBOLS: SYMBOLS.join(","),
        BINANCE_WS_URL: replay.env.BINANCE_WS_URL!,
        BINANCE_REST_URL: replay.env.BINANCE_REST_URL!,
        HTTP_PORT: String(httpPort),
      },
      process.cwd(),
      // e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the daemon under load.
      (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a !== ""),
    )
    const pid = daemon.process.pid!
    try {
      await until("the daemon to be ready", async () => {
        try {
          return (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).ok
        } catch {
          return false
        }
      })
      if (mode === "all") {
        conn = await amqp.connect(env.RABBITMQ_URL!)
        const ch = await conn.createChannel()
        await ch.prefetch(5_000)
        await ch.consume(
          "market.ticks",
          (msg) => {
            if (msg === null) return
            const now = Date.now()
            const body = JSON.parse(msg.content.toString()) as unknown
            // One tick per message, or a batch of one symbol's ticks (TICK_BATCH_MAX > 1).
            const batch = (body as { ticks?: Array<{ timestamp: number; tradeId: string }> }).ticks
            if (batch === undefined) {
              // `exchange:symbol:tradeId`
              const id = msg.properties.messageId as string
              const last = id.lastIndexOf(":")
              ticks.add(id.slice(0, last), id.slice(last + 1))
              tickLatency.push(now - (body as { timestamp: number }).timestamp)
            } else {
              const symbol = (body as { symbol: string }).symbol
              for (const t of batch) {
                ticks.add(symbol, t.tradeId)
                tickLatency.push(now - t.timestamp)
              }
            }
            ch.ack(msg)
          },
          { noAck: false },
        )
        await ch.consume("market.ohlcv", (msg) => {
          if (msg === null) return
          candles.add(msg.properties.messageId as string)
          ch.ack(msg)
        })
      }
      const expected = rate * SECONDS
      let received = 0
      let firstAt = 0
      let lastAt = 0
      let sourceDoneAt = 0
      let cpuFrom: CpuSnapshot | undefined
      let loopP99 = 0
      let loopMax = 0
      const sample = async () => {
        const { sent, done } = await replaySent(control)
        const metrics = await scrape(httpPort)
        received = total(metrics, "trades_received_total", { exchange: "binance" })
        step.peakHeapMb = Math.max(step.peakHeapMb, total(metrics, "nodejs_heap_size_used_bytes", {}) / 2 ** 20)
        // From the second scrape with trades flowing: the first still spans the daemon's start.
        if (firstAt > 0 && Date.now() - firstAt > 1_000) {
          loopP99 = Math.max(loopP99, total(metrics, "nodejs_eventloop_delay_p99_seconds", {}))
          loopMax = Math.max(loopMax, total(metrics, "nodejs_eventloop_delay_max_seconds", {}))
        }
        if (received > 0 && firstAt === 0) {
          firstAt = Date.now()
          cpuFrom = cpuSnapshot()
        }
        if (received < expected) lastAt = Date.now()
        if (done && sourceDoneAt === 0) sourceDoneAt = Date.now()
        // Behind the tape's own schedule (rate × time since the first trade), not behind what the replay managed to
        // send: a daemon that pushes back slows the replay down, and that is falling behind too.
        const due = firstAt === 0 ? 0 : Math.min(expected, (rate * (Date.now() - firstAt)) / 1_000)
        step.worstLagS = Math.max(step.worstLagS, (Math.max(sent / 2, due) - received) / rate)
        const rss = rssMb(pid)
        step.peakRssMb = Math.max(step.peakRssMb, rss)
        if (influxLink !== undefined && firstAt > 0) {
          const at = Date.now() - firstAt
          step.rss.push([at, rss])
          if (at >= OUTAGE_AFTER_MS && at < OUTAGE_AFTER_MS + OUTAGE_MS) influxLink.cut()
          else if (at >= OUTAGE_AFTER_MS + OUTAGE_MS) influxLink.restore()
        }
        return received >= expected
      }
      // Twice a second: a scrape renders every metric, and ten a second cost the daemon under test 3 % of its CPU.
      await until("the daemon to receive every trade", sample, SECONDS * 1_000 + CATCH_UP_LIMIT_MS, 500).catch(
        (e: Error) => step.detail.push(e.message),
      )
      if (cpuFrom !== undefined) step.detail.push(coresUsed(cpuFrom, cpuSnapshot()))
      step.detail.push(
        `event loop late by up to ${fmt(loopP99 * 1_000)} ms at p99 of a half second, ${fmt(loopMax * 1_000)} ms at most`,
      )
      step.received = received / Math.max(0.001, (lastAt - firstAt) / 1_000)
      step.catchUpS = sourceDoneAt === 0 ? Number.NaN : Math.max(0, (lastAt - sourceDoneAt) / 1_000)
      if (influxLink !== undefined) {
        influxLink.restore()
        // What the outage left on disk is delivered before the daemon stops.
        await until(
          "the InfluxDB sink to drain its disk buffer",
          async () => total(await scrape(httpPort), "sink_disk_records", { sink: "influx" }) === 0,
          900_000,
        ).catch((e: Error) => step.detail.push(e.message))
        step.detail.push(rssTimeline(step.rss))
      }
      // Every sink's own view: candles of the last minute are stored when the daemon stops (as snapshots).
      const samples = await scrape(httpPort)
      const batches = total(samples, "feed_batch_frames_count", {})
      step.detail.push(`frames per feed batch: ${fmt(total(samples, "feed_batch_frames_sum", {}) / batches, 1)}`)
      // How each store's batches went: their count, mean size and mean time (what its latency is made of).
      for (const sink of mode === "all" ? ["postgres", "influx"] : ["postgres"]) {
        const writes = total(samples, "store_write_duration_ms_count", { sink })
        if (writes > 0)
          step.detail.push(
            `${sink}: ${fmt(writes)} writes of ${fmt(total(samples, "store_batch_rows_sum", { sink }) / writes)} rows, ${fmt(total(samples, "store_write_duration_ms_sum", { sink }) / writes)} ms on average`,
          )
      }
      // Whether the memory buffers sufficed: what each sink had to move to its disk buffer meanwhile.
      for (const sink of ["postgres", "rabbitmq", "influx"]) {
        const spilled = total(samples, "sink_spilled_records_total", { sink })
        if (spilled > 0) step.detail.push(`${sink}: ${spilled} record(s) spilled to the disk buffer`)
      }
      // The daemon's own view of tick latency, one sample per write from its oldest tick: where in a sink's writes
      // the tail is, beside the consumer's per-tick p99 for RabbitMQ.
      if (mode === "all")
        for (const sink of ["rabbitmq", "influx"]) {
          const q = (x: number) => fmt(histogramQuantile(samples, "end_to_end_latency_ms", { sink, kind: "tick" }, x))
          step.detail.push(
            `${sink}: oldest tick of a write stored after p50 ≤ ${q(0.5)}, p90 ≤ ${q(0.9)}, p99 ≤ ${q(0.99)} ms`,
          )
        }
      step.p99.postgres = histogramP99(samples, "end_to_end_latency_ms", { sink: "postgres" })
      if (mode === "all") step.p99.influx = histogramP99(samples, "end_to_end_latency_ms", { sink: "influx" })
      daemon.process.kill("SIGTERM")
      await daemon.exit
      // e.g. BENCH_DAEMON_OUTPUT=/tmp/daemon.log with BENCH_NODE_ARGS="--trace-gc" to read what V8 printed.
      if (process.env.BENCH_DAEMON_OUTPUT) writeFileSync(process.env.BENCH_DAEMON_OUTPUT, daemon.output())
      const [row] = await query<{ n: string }>(
        databaseUrl,
        "SELECT COALESCE(SUM(trades), 0) AS n FROM ohlcv_candles WHERE timeframe = '1m'",
      )
      step.complete.postgres = Number(row!.n) === expected
      if (Number(row!.n) !== expected) step.detail.push(`postgres: ${row!.n} of ${expected} trades in 1m candles`)
      if (mode === "all") {
        await until("the consumer to drain market.ticks", () => ticks.size >= expected, 30_000).catch(() => undefined)
        step.p99.rabbitmq = p99(tickLatency)
        step.complete.rabbitmq = ticks.size === expected && candles.size > 0
        if (ticks.size !== expected) step.detail.push(`rabbitmq: ${ticks.size} of ${expected} ticks`)
        const points = await influxQuery(INFLUX.engine, bucket!.name, "SELECT count(last) FROM market_ticks")
        const counted = Number(points[0]?.count ?? 0)
        step.complete.influx = counted === expected
        if (counted !== expected) step.detail.push(`influx: ${counted} of ${expected} tick points`)
      }
    } finally {
      daemon.process.kill("SIGKILL")
      await replay.stop()
    }
  } finally {
    await conn?.close().catch(() => undefined)
    if (mode === "all") {
      try {
        rabbitctl("delete_vhost", vhost)
      } catch {
        // already gone
      }
      await bucket!.drop()
    }
    await db.stop()
    await influxLink?.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/** Peak RSS per minute before, during and after the outage: flat means the outage's minutes do not climb. */
const rssTimeline = (samples: ReadonlyArray<readonly [number, number]>): string => {
  const phases: Array<readonly [string, number, number]> = [
    ["before", 0, OUTAGE_AFTER_MS],
    ...Array.from({ length: Math.ceil(OUTAGE_MS / 60_000) }, (_, i): readonly [string, number, number] => [
      `outage min ${i + 1}`,
      OUTAGE_AFTER_MS + i * 60_000,
      Math.min(OUTAGE_AFTER_MS + OUTAGE_MS, OUTAGE_AFTER_MS + (i + 1) * 60_000),
    ]),
    ["after", OUTAGE_AFTER_MS + OUTAGE_MS, Number.POSITIVE_INFINITY],
  ]
  return `peak RSS (MB) around a ${OUTAGE_MS / 1_000} s InfluxDB outage: ${phases
    .map(([name, from, to]) => {
      const inPhase = samples.filter(([at]) => at >= from && at < to).map(([, mb]) => mb)
      return `${name} ${inPhase.length === 0 ? "–" : fmt(Math.max(...inPhase))}`
    })
    .join(", ")}`
}

const fmt = (n: number, digits = 0) =>
  Number.isNaN(n) ? "–" : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })

const main = async () => {
  const steps: Array<Step> = []
  for (const mode of MODES)
    for (const rate of RATES) {
      const step: Step = {
        mode,
        offered: rate,
        received: 0,
        worstLagS: 0,
        catchUpS: 0,
        peakRssMb: 0,
        peakHeapMb: 0,
        p99: {},
        complete: {},
        detail: [],
        rss: [],
      }
      process.stderr.write(`bench:e2e ${mode} at ${rate} trades/s for ${SECONDS} s …\n`)
      await (mode === "bare" ? bareClient(rate, step) : daemonStep(mode, rate, step))
      process.stderr.write(`  ${JSON.stringify({ ...step, rss: undefined })}\n`)
      steps.push(step)
    }
  // Held, as the issue defines it: every trade at every sink and the feed never 2 s behind the tape (nor receiving
  // under 98 % of the offer).
  const held = (s: Step) =>
    Object.values(s.complete).every(Boolean) && s.worstLagS < 2 && s.received >= 0.98 * s.offered
  // Stricter, and reported beside it: each sink's p99 exchange time → sink under 2 s as well. PostgreSQL stores
  // candles, which cannot be stored before their close plus the 2 s grace and the sink's 1 s batching
  // (STORE_FLUSH_MS), so its bound is 5 s.
  const prompt = (s: Step) =>
    Object.entries(s.p99).every(([sink, ms]) => Number.isNaN(ms) || ms <= (sink === "postgres" ? 5_000 : 2_000))
  console.log(
    "\n| sinks | offered/s | received/s | worst lag (s) | p99 → postgres (ms) | p99 → rabbitmq (ms) | p99 → influx (ms) | peak RSS (MB) | peak heap used (MB) | every trade at every sink | held | every p99 in bound |",
  )
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
  for (const s of steps)
    console.log(
      `| ${s.mode === "bare" ? "bare ws + JSON.parse" : s.mode === "all" ? "all" : "PostgreSQL"} | ${fmt(s.offered)} | ${fmt(s.received)} | ${fmt(s.worstLagS, 1)} | ${fmt(s.p99.postgres ?? Number.NaN)} | ${fmt(s.p99.rabbitmq ?? Number.NaN)} | ${fmt(s.p99.influx ?? Number.NaN)} | ${s.mode === "bare" ? "–" : fmt(s.peakRssMb)} | ${s.mode === "bare" ? "–" : fmt(s.peakHeapMb)} | ${Object.entries(
        s.complete,
      )
        .map(([k, v]) => `${k} ${v ? "yes" : "NO"}`)
        .join(", ")} | ${held(s) ? "yes" : "no"} | ${prompt(s) ? "yes" : "no"} |`,
    )
  for (const mode of MODES) {
    const best = (ok: (s: Step) => boolean) =>
      steps.filter((s) => s.mode === mode && ok(s)).sort((a, b) => b.offered - a.offered)[0]?.offered
    const rate = (r: number | undefined) => (r === undefined ? "none" : fmt(r))
    console.log(
      `${mode}: highest rate held with every trade at every sink and lag under 2 s: ${rate(best(held))}; with every sink's p99 in bound too: ${rate(best((s) => held(s) && prompt(s)))}`,
    )
  }
  for (const s of steps) for (const d of s.detail) console.log(`note (${s.mode} ${s.offered}/s): ${d}`)
}

void main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  },
)
