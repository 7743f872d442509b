/**
 * The replay exchange: `node dist/replay.js [options] [<exchange>=<frames.jsonl>[,<more.jsonl>] …]`.
 *
 * With files, each exchange replays its recorded frames (shared/fixtures format); without, every exchange
 * streams synthetic trades for its symbols. It prints the environment that points the daemon at it.
 */
import { parseArgs } from "node:util"
import { VENUES } from "./exchanges/registry.js"
import { ExchangeId } from "./schema/Market.js"
import { type Pace, ReplayServer } from "./replay/ReplayServer.js"
import { PROTOCOLS } from "./exchanges/registry.js"
import { recordedTape, syntheticTape } from "./replay/Tape.js"

const USAGE = `usage: node dist/replay.js [options] [<exchange>=<file.jsonl>[,<file.jsonl>…] …]

  --port N            listen on N (default 9443); feeds connect to ws://127.0.0.1:N/<exchange>
  --speed X           recorded pace times X (default 1); "fast" = as fast as the client reads
  --shift-to-now      move recorded timestamps so that the replay starts now
  --live              do not hold the tape while no client is connected (a live exchange loses data then)
  --symbols LIST      synthetic mode: unified symbols (default: the daemon's defaults per venue)
  --rate R            synthetic mode: trades per second per exchange (default 20)
  --count N           synthetic mode: stop after N trades (default: never)

Fault controls while it runs (HTTP on the same port, optional ?exchange=<id>):
  curl -X POST localhost:9443/control/drop | pause | resume | freeze | thaw | shutdown-notice
  curl -X POST 'localhost:9443/control/speed?value=10'
  curl -X POST 'localhost:9443/control/silence?exchange=binance&symbol=ETH/USDT&on=true'
  curl localhost:9443/control/status`

const fail = (message: string): never => {
  console.error(`replay: ${message}\n\n${USAGE}`)
  process.exit(2)
}

const main = async () => {
  const { values, positionals } = (() => {
    try {
      return parseArgs({
        allowPositionals: true,
        options: {
          port: { type: "string", default: "9443" },
          speed: { type: "string", default: "1" },
          "shift-to-now": { type: "boolean", default: false },
          live: { type: "boolean", default: false },
          symbols: { type: "string" },
          rate: { type: "string", default: "20" },
          count: { type: "string" },
          help: { type: "boolean", default: false },
        },
      })
    } catch (e) {
      return fail((e as Error).message)
    }
  })()
  if (values.help) {
    console.log(USAGE)
    return
  }
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port ${values.port} is not a port`)
  const pace: Pace =
    values.speed === "fast"
      ? { mode: "fast" }
      : Number(values.speed) > 0
        ? { mode: "paced", speed: Number(values.speed) }
        : fail(`--speed ${values.speed} is neither a positive number nor "fast"`)
  const rate = Number(values.rate)
  if (!(rate > 0)) fail(`--rate ${values.rate} must be a positive number`)
  const count = values.count === undefined ? undefined : Number(values.count)
  if (count !== undefined && !(Number.isInteger(count) && count > 0))
    fail(`--count ${values.count} must be a whole number > 0`)

  const files = new Map<ExchangeId, Array<string>>()
  for (const p of positionals) {
    const [exchange, list] = p.split("=", 2)
    if (!ExchangeId.literals.includes(exchange as ExchangeId) || list === undefined)
      fail(`${p}: expected <exchange>=<file.jsonl>, exchange one of ${ExchangeId.literals.join(", ")}`)
    files.set(exchange as ExchangeId, list!.split(","))
  }

  const server = await ReplayServer.start({ port }).catch((e: Error) => fail(`cannot listen on ${port}: ${e.message}`))
  const options = { pace, hold: !values.live, shiftToNow: values["shift-to-now"] }
  const env: Array<string> = []
  for (const exchange of ExchangeId.literals) {
    const recorded = files.get(exchange)
    if (files.size > 0 && recorded === undefined) continue
    if (recorded !== undefined) {
      const tape = (() => {
        try {
          return recordedTape(PROTOCOLS[exchange], recorded)
        } catch (e) {
          return fail(`${exchange}: ${(e as Error).message}`)
        }
      })()
      server.play(exchange, tape, options)
      console.log(`${exchange}: ${tape.length} frames from ${recorded.join(", ")}`)
    } else {
      const symbols = values.symbols?.split(",") ?? VENUES[exchange].defaults.symbols
      server.play(
        exchange,
        syntheticTape({ symbols, rate, start: Date.now(), ...(count === undefined ? {} : { count }) }),
        options,
      )
      console.log(`${exchange}: synthetic ${symbols.join(",")} at ${rate} trades/s`)
      env.push(`${exchange.toUpperCase()}_SYMBOLS=${symbols.join(",")}`)
    }
    env.push(`${exchange.toUpperCase()}_WS_URL=${server.url(exchange)}`)
    env.push(`${exchange.toUpperCase()}_REST_URL=${server.restUrl(exchange)}`)
  }
  const feeds = [...new Set(env.map((e) => e.split("_")[0]!.toLowerCase()))]
  console.log(
    `\nreplay exchange on port ${server.port}; point the daemon at it with:\n  FEEDS=${feeds.join(",")} ${env.join(" ")} node dist/main.js`,
  )
  const stop = () => void server.close().then(() => process.exit(0))
  process.on("SIGINT", stop)
  process.on("SIGTERM", stop)
}

void main()
