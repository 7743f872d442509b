import { createReadStream } from "node:fs"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { resolve, sep } from "node:path"
import type { AddressInfo } from "node:net"
import { WebSocket, WebSocketServer } from "ws"
import { ExchangeId } from "../schema/Market.js"
import {
  enter,
  type Ledger,
  type MarketEvent,
  type Outbound,
  type ReplayProtocol,
  type SyntheticTrade,
} from "../exchanges/ReplayProtocol.js"
import { PROTOCOLS } from "../exchanges/registry.js"
import type { RawItem, Tape, TapeItem } from "./Tape.js"
import { textFrames } from "./TextFrames.js"

/** `fast`: as fast as the slowest subscribed client reads; `paced`: the tape's own pace times `speed`. */
export type Pace = { readonly mode: "fast" } | { readonly mode: "paced"; readonly speed: number }

export interface PlayOptions {
  readonly pace?: Pace
  /** Hold the tape while no client is subscribed, so a reconnecting feed misses nothing (default true). */
  readonly hold?: boolean
  /** Frames of its topics re-sent to a client when it subscribes: the overlap a real reconnect often sees. */
  readonly rewind?: number
  /** Move every timestamp so that the tape starts now. */
  readonly shiftToNow?: boolean
  /** Drop every connection once this many tape items were sent (a test's mid-stream disconnect). */
  readonly dropAt?: number
}

/** Bytes a client may have unsent before the tape waits for it: the back-pressure of a slow reader. */
const CLIENT_HIGH_WATER = 1 << 16
/**
 * A client counts as subscribed this long after its last subscribe message: longer than any venue's pause between
 * paced subscribe requests (OKX: 350 ms), so a held tape starts only once every channel is subscribed.
 */
const SETTLE_MS = 500
const SNAPSHOT_TRADES = 50
const HISTORY = 4_096

/** Keeps the last `n` items, trimming only once it holds twice that, so a push costs O(1) on average. */
const keepLast = <A>(list: Array<A>, n: number) => {
  if (list.length > 2 * n) list.splice(0, list.length - n)
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

class Client {
  readonly topics = new Set<string>()
  ready = false
  frozen = false
  heartbeat: ReturnType<typeof setInterval> | undefined
  settle: ReturnType<typeof setTimeout> | undefined

  constructor(
    readonly ws: WebSocket,
    private readonly counted: () => void,
  ) {}

  send(frame: string): void {
    if (this.ws.readyState !== WebSocket.OPEN || this.frozen) return
    // Frames sent in one turn of the event loop leave in one write, as an exchange's do, instead of a syscall each.
    if (this.pending.length === 0) process.nextTick(this.flush)
    this.pending.push(frame)
    this.counted()
  }

  private pending: Array<string> = []

  /**
   * Written past `ws`'s sender onto its socket, which keeps them in order with what the sender writes (pongs,
   * closes) and counts them in `bufferedAmount`, the tape's back-pressure.
   */
  private readonly flush = () => {
    const frames = this.pending
    this.pending = []
    if (this.ws.readyState !== WebSocket.OPEN) return
    const socket = (this.ws as unknown as { _socket: { write(data: Buffer): boolean } })._socket
    socket.write(textFrames(frames))
  }
}

/** One exchange's endpoint: its clients, its tape and the faults applied to it. */
export class ReplayVenue {
  readonly clients = new Set<Client>()
  readonly controlMessages: Array<string> = []
  /** WebSocket ping frames answered (application pings are control messages). */
  pongs = 0
  connections = 0
  /** Tape items sent so far. */
  sent = 0
  /** WebSocket frames written to clients (tape, replies, snapshots, heartbeats), for tests that count receipt. */
  framesSent = 0
  done = true
  paused = false
  speed = 1
  private readonly silenced = new Set<string>()
  private readonly recent = new Map<string, Array<SyntheticTrade>>()
  private readonly history: Array<Outbound> = []
  private options: PlayOptions = {}
  private generation = 0
  /** Every trade the tape played, sent or not: what the venue's REST history answers from. */
  readonly ledger: Ledger = { records: new Map(), klines: new Map() }
  /** Trade frames still to be kept from clients (an injected gap); they still enter the ledger. */
  private withheld = 0
  /** Until when new connections are refused and none is served (an outage). */
  outageUntil = 0
  /** REST weight per minute before answers turn 429; and whether REST answers at all. */
  restLimit = Number.POSITIVE_INFINITY
  restDown = false
  /** Each REST request as it came: time (ms), path and query, and the status answered. */
  readonly restLog: Array<{ readonly at: number; readonly url: string; readonly status: number }> = []
  private readonly restSpent: Array<{ readonly at: number; readonly weight: number }> = []

  constructor(readonly protocol: ReplayProtocol) {}

  accept(ws: WebSocket): void {
    this.connections++
    const client = new Client(ws, () => this.framesSent++)
    this.clients.add(client)
    ws.on("ping", (data) => {
      if (client.frozen) return
      ws.pong(data)
      this.pongs++
    })
    ws.on("message", (data) => {
      if (client.frozen) return
      const text = data.toString()
      this.controlMessages.push(text)
      const reply = this.protocol.onMessage(text)
      for (const r of reply.replies) client.send(r)
      const added = reply.topics.filter((t) => !client.topics.has(t))
      if (added.length === 0) return
      for (const t of added) client.topics.add(t)
      this.catchUp(client, new Set(added))
      clearTimeout(client.settle)
      client.settle = setTimeout(() => this.ready(client), SETTLE_MS)
    })
    ws.on("close", () => {
      clearInterval(client.heartbeat)
      clearTimeout(client.settle)
      this.clients.delete(client)
    })
  }

  /**
   * What a client gets right after subscribing, before live data: the venue's snapshot of recent trades
   * (Coinbase, Kraken) and, when asked for, a re-send of recent frames (the overlap of a real reconnect).
   */
  private catchUp(client: Client, topics: ReadonlySet<string>): void {
    const { snapshot } = this.protocol
    if (snapshot !== undefined)
      for (const topic of topics) {
        const recent = this.recent.get(topic)
        const frame =
          recent === undefined || recent.length === 0 ? undefined : snapshot(topic, recent.slice(-SNAPSHOT_TRADES))
        if (frame !== undefined) client.send(frame)
      }
    const rewind = this.options.rewind ?? 0
    if (rewind > 0)
      for (const ob of this.history.slice(-Math.min(rewind, HISTORY))) if (topics.has(ob.topic)) client.send(ob.frame)
  }

  /** Subscribed and settled: the tape may run for it, and the venue's heartbeats start. */
  private ready(client: Client): void {
    if (client.ready || client.ws.readyState !== WebSocket.OPEN) return
    client.ready = true
    const { heartbeat } = this.protocol
    if (heartbeat !== undefined) {
      let counter = 0
      client.heartbeat = setInterval(() => client.send(heartbeat(++counter, Date.now())), 1_000)
    }
  }

  /** Whether a subscribed client has more unsent than it may: checked after every item, so without a copy of the set. */
  private clientBehind(): boolean {
    for (const c of this.clients) if (c.topics.size > 0 && c.ws.bufferedAmount > CLIENT_HIGH_WATER) return true
    return false
  }

  /** Clients whose subscription has settled and who receive the tape. */
  readyClients(): number {
    let n = 0
    for (const c of this.clients) if (c.ready && c.ws.readyState === WebSocket.OPEN) n++
    return n
  }

  /** Sends to every subscribed client now, remembering trades for later subscribe snapshots. */
  broadcast(outbound: ReadonlyArray<Outbound>): void {
    for (const ob of outbound) {
      if (this.remember(ob) && this.withheld > 0) {
        this.withheld--
        continue
      }
      this.history.push(ob)
      keepLast(this.history, HISTORY)
      if (ob.trades !== undefined) {
        const list = this.recent.get(ob.topic) ?? []
        list.push(...ob.trades)
        keepLast(list, SNAPSHOT_TRADES)
        this.recent.set(ob.topic, list)
      }
      for (const c of this.clients) if (c.topics.has(ob.topic)) c.send(ob.frame)
    }
  }

  /** Enters a frame's trades into the REST history; false when it carries none. */
  private remember(ob: Outbound): boolean {
    const entries = ob.ledger ?? this.protocol.rest?.record(ob.frame) ?? []
    enter(this.ledger, entries, this.protocol.rest)
    return entries.length > 0
  }

  publish(events: ReadonlyArray<MarketEvent>): void {
    this.broadcast(events.flatMap((e) => this.protocol.encode(e)))
  }

  /** Sends text as-is to every client: malformed, oversized or unknown frames for robustness tests. */
  sendRaw(text: string): void {
    for (const c of this.clients) c.send(text)
  }

  /** The next `count` trade frames enter the history but reach no client: a gap for the feed to find and fill. */
  withhold(count: number): void {
    this.withheld += count
  }

  /** Drops every connection and refuses new ones for `ms`, while the tape plays on into the history. */
  outage(ms: number): void {
    this.outageUntil = Date.now() + ms
    void this.dropAll()
  }

  /** Answers a REST GET under the venue's rate limit, as the exchange would: weight header, 429 past the limit. */
  serveRest(path: string, query: URLSearchParams): { status: number; headers: Record<string, string>; body: unknown } {
    const now = Date.now()
    while (this.restSpent.length > 0 && this.restSpent[0]!.at + 60_000 <= now) this.restSpent.shift()
    const used = this.restSpent.reduce((n, s) => n + s.weight, 0)
    const log = (status: number) => this.restLog.push({ at: now, url: `${path}?${query.toString()}`, status })
    if (this.restDown) {
      log(503)
      return { status: 503, headers: {}, body: { code: -1008, msg: "Service unavailable (replay: REST down)" } }
    }
    const rest = this.protocol.rest
    if (rest === undefined) {
      log(404)
      return {
        status: 404,
        headers: {},
        body: { msg: `the replay serves no REST history for ${this.protocol.exchange}` },
      }
    }
    const answer = rest.answer(path, query, this.ledger)
    if (used + answer.weight > this.restLimit) {
      log(429)
      const retryAfter = Math.ceil((this.restSpent[0]!.at + 60_000 - now) / 1_000)
      return {
        status: 429,
        headers: { "retry-after": String(retryAfter), "x-mbx-used-weight-1m": String(used) },
        body: { code: -1003, msg: "Too many requests" },
      }
    }
    this.restSpent.push({ at: now, weight: answer.weight })
    log(answer.status)
    return {
      status: answer.status,
      headers: { "x-mbx-used-weight-1m": String(used + answer.weight) },
      body: answer.body,
    }
  }

  silence(symbol: string, on: boolean): void {
    if (on) this.silenced.add(symbol)
    else this.silenced.delete(symbol)
  }

  play(tape: Tape, options: PlayOptions): void {
    this.options = options
    this.sent = 0
    this.done = false
    const generation = ++this.generation
    void this.run(tape[Symbol.iterator](), generation)
  }

  private encode(item: TapeItem, shift: number): ReadonlyArray<Outbound> {
    if ("raw" in item) {
      for (const c of this.clients) if (c.topics.has(item.topic)) c.send(item.raw)
      return []
    }
    if ("frame" in item)
      return [{ topic: item.topic, frame: shift === 0 ? item.frame : this.protocol.shift(item.frame, shift) }]
    const e = item.event
    const symbol = e.kind === "trade" ? e.trade.symbol : e.quote.symbol
    // A silenced symbol still trades at the exchange: its trades reach the history, not the clients.
    if (this.silenced.has(symbol)) {
      for (const ob of this.protocol.encode(e)) this.remember(ob)
      return []
    }
    const moved: MarketEvent =
      shift === 0
        ? e
        : e.kind === "trade"
          ? { kind: "trade", trade: { ...e.trade, ts: e.trade.ts + shift } }
          : { kind: "quote", quote: { ...e.quote, ts: e.quote.ts + shift } }
    return this.protocol.encode(moved)
  }

  private async run(items: Iterator<TapeItem>, generation: number): Promise<void> {
    const { pace = { mode: "fast" }, hold = true, dropAt } = this.options
    // Paced items are due at base + (at − offset) / speed, from one fixed origin so that timer delays do not add
    // up; the origin moves only when the speed changes or the tape was held.
    let base = Date.now()
    let offset = Number.NaN
    let speed = this.speed
    let shift: number | undefined
    for (let next = items.next(); !next.done; next = items.next()) {
      if (generation !== this.generation) return
      const item = next.value
      if (Number.isNaN(offset)) offset = item.at
      const waitStarted = Date.now()
      while (this.paused || (hold && this.readyClients() === 0)) {
        await sleep(5)
        if (generation !== this.generation) return
      }
      base += Date.now() - waitStarted
      if (pace.mode === "paced") {
        // Waited in slices, so that a speed change applies to the wait already under way.
        while (true) {
          if (speed !== this.speed) {
            const now = Date.now()
            offset += (now - base) * pace.speed * speed
            base = now
            speed = this.speed
          }
          const due = base + (item.at - offset) / (pace.speed * speed)
          if (due <= Date.now()) break
          await sleep(Math.min(50, due - Date.now()))
          if (generation !== this.generation) return
        }
      }
      if (shift === undefined && !("raw" in item))
        shift = this.options.shiftToNow === true ? Date.now() - this.firstTime(item) : 0
      this.broadcast(this.encode(item, shift ?? 0))
      this.sent++
      if (dropAt !== undefined && this.sent === dropAt) await this.dropAll()
      while (this.clientBehind()) await sleep(2)
      if (this.sent % 256 === 0) await new Promise((r) => setImmediate(r))
    }
    this.done = true
  }

  private firstTime(item: Exclude<TapeItem, RawItem>): number {
    if ("event" in item) return item.event.kind === "trade" ? item.event.trade.ts : item.event.quote.ts
    const m = /"(?:T|ts|E)":"?(\d{13})/.exec(item.frame) ?? /"(\d{4}-\d\d-\d\dT[^"]+)"/.exec(item.frame)
    if (m === null) return Date.now()
    return /^\d+$/.test(m[1]!) ? Number(m[1]) : Date.parse(m[1]!)
  }

  /** Closes every connection once what was sent to it has left, so the drop loses nothing in flight. */
  async dropAll(): Promise<void> {
    const clients = [...this.clients]
    for (const c of clients) while (c.ws.bufferedAmount > 0 && c.ws.readyState === WebSocket.OPEN) await sleep(5)
    await sleep(200)
    for (const c of clients) {
      // Off the tape at once: the close event comes later, and frames sent meanwhile would be lost.
      c.ready = false
      c.topics.clear()
      c.ws.terminate()
    }
  }

  /** The venue's announcement that it will close the connections, then the close itself after `closeAfterMs`. */
  shutdownNotice(closeAfterMs: number): void {
    const clients = [...this.clients]
    const notice = this.protocol.shutdownNotice?.(Date.now())
    if (notice !== undefined) for (const c of clients) c.send(notice)
    setTimeout(() => {
      for (const c of clients) {
        c.ready = false
        c.topics.clear()
        c.ws.close(1001, "server shutdown")
      }
    }, closeAfterMs)
  }

  /** Stops answering anything, pings included, without closing: a connection that silently died. */
  freeze(on: boolean): void {
    for (const c of this.clients) c.frozen = on
  }

  status() {
    return {
      connections: this.connections,
      clients: this.clients.size,
      subscribed: this.readyClients(),
      sent: this.sent,
      done: this.done,
      paused: this.paused,
    }
  }
}

/**
 * A local exchange for all five venues on one port (`ws://host:port/<exchange>`), speaking each one's WebSocket
 * protocol well enough for our feeds, replaying recorded frames or synthetic trades, with fault controls over
 * HTTP (`/control/…`) and in process.
 */
export class ReplayServer {
  private readonly venues = new Map<ExchangeId, ReplayVenue>()

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
  ) {
    for (const [id, protocol] of Object.entries(PROTOCOLS)) this.venues.set(id as ExchangeId, new ReplayVenue(protocol))
    http.on("upgrade", (req, socket, head) => {
      const venue = this.venueOfPath(req.url ?? "")
      if (venue === undefined) {
        socket.end("HTTP/1.1 404 Not Found\r\n\r\n")
        return
      }
      if (Date.now() < venue.outageUntil) {
        socket.end("HTTP/1.1 503 Service Unavailable\r\n\r\n")
        return
      }
      wss.handleUpgrade(req, socket, head, (ws) => venue.accept(ws))
    })
    http.on("request", (req, res) => {
      const url = new URL(req.url ?? "/", "http://replay")
      if (url.pathname.startsWith("/archive/")) return this.serveArchive(url.pathname.slice("/archive/".length), res)
      const venue = this.venueOfPath(url.pathname)
      if (venue === undefined) return this.control(req, res)
      const answer = venue.serveRest(url.pathname.replace(/^\/[a-z]+/, ""), url.searchParams)
      res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers })
      res.end(JSON.stringify(answer.body))
    })
  }

  static async start(options: { readonly host?: string; readonly port?: number } = {}): Promise<ReplayServer> {
    const http = createServer()
    const wss = new WebSocketServer({ noServer: true, autoPong: false })
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject)
      http.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve())
    })
    return new ReplayServer(http, wss)
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port
  }

  url(exchange: ExchangeId): string {
    const { address } = this.http.address() as AddressInfo
    return `ws://${address}:${this.port}/${exchange}`
  }

  /** The venue's REST API base, for `<EXCHANGE>_REST_URL`. */
  restUrl(exchange: ExchangeId): string {
    const { address } = this.http.address() as AddressInfo
    return `http://${address}:${this.port}/${exchange}`
  }

  /** The base URL at which the directory given to `serveArchiveFrom` is served. */
  archiveUrl(): string {
    const { address } = this.http.address() as AddressInfo
    return `http://${address}:${this.port}/archive`
  }

  /** Serves the files under `dir` at `archiveUrl()`: a public data archive such as data.binance.vision. */
  serveArchiveFrom(dir: string | undefined): void {
    this.archiveDir = dir
  }

  private archiveDir: string | undefined

  private serveArchive(path: string, res: ServerResponse): void {
    const root = this.archiveDir
    const file = root === undefined ? undefined : resolve(root, decodeURIComponent(path))
    if (root === undefined || file === undefined || !file.startsWith(resolve(root) + sep)) {
      res.writeHead(404).end()
      return
    }
    const stream = createReadStream(file)
    stream.once("open", () => {
      res.writeHead(200, { "content-type": "application/octet-stream" })
      stream.pipe(res)
    })
    stream.once("error", () => {
      if (!res.headersSent) res.writeHead(404)
      res.end()
    })
  }

  venue(exchange: ExchangeId): ReplayVenue {
    return this.venues.get(exchange)!
  }

  play(exchange: ExchangeId, tape: Tape, options: PlayOptions = {}): void {
    this.venue(exchange).play(tape, options)
  }

  async close(): Promise<void> {
    for (const v of this.venues.values()) {
      v.play([], {})
      for (const c of v.clients) c.ws.terminate()
    }
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
    this.http.closeAllConnections()
    await new Promise<void>((resolve) => this.http.close(() => resolve()))
  }

  private venueOfPath(url: string): ReplayVenue | undefined {
    const first = url.split("?")[0]!.split("/")[1] ?? ""
    return ExchangeId.literals.includes(first as ExchangeId) ? this.venues.get(first as ExchangeId) : undefined
  }

  private control(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://replay")
    const action = url.pathname.replace(/^\/control\//, "")
    const exchange = url.searchParams.get("exchange")
    const targets =
      exchange === null
        ? [...this.venues.values()]
        : ExchangeId.literals.includes(exchange as ExchangeId)
          ? [this.venue(exchange as ExchangeId)]
          : []
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" })
      res.end(JSON.stringify(body))
    }
    if (targets.length === 0) return answer(404, { error: `unknown exchange ${exchange}` })
    const number = (name: string) => Number(url.searchParams.get(name))
    switch (action) {
      case "status":
        return answer(200, Object.fromEntries([...this.venues].map(([id, v]) => [id, v.status()])))
      case "drop":
        void Promise.all(targets.map((v) => v.dropAll()))
        break
      case "pause":
      case "resume":
        for (const v of targets) v.paused = action === "pause"
        break
      case "freeze":
      case "thaw":
        for (const v of targets) v.freeze(action === "freeze")
        break
      case "speed":
        if (!(number("value") > 0)) return answer(400, { error: "speed needs value > 0" })
        for (const v of targets) v.speed = number("value")
        break
      case "shutdown-notice":
        for (const v of targets) v.shutdownNotice(url.searchParams.has("closeAfterMs") ? number("closeAfterMs") : 1_000)
        break
      case "withhold":
        if (!(number("count") > 0)) return answer(400, { error: "withhold needs count > 0" })
        for (const v of targets) v.withhold(number("count"))
        break
      case "outage":
        if (!(number("ms") > 0)) return answer(400, { error: "outage needs ms > 0" })
        for (const v of targets) v.outage(number("ms"))
        break
      case "rest-down":
      case "rest-up":
        for (const v of targets) v.restDown = action === "rest-down"
        break
      case "silence": {
        const symbol = url.searchParams.get("symbol")
        if (symbol === null) return answer(400, { error: "silence needs symbol=BASE/QUOTE" })
        for (const v of targets) v.silence(symbol, url.searchParams.get("on") !== "false")
        break
      }
      default:
        return answer(404, {
          error: `unknown control ${action}; use status, drop, pause, resume, freeze, thaw, speed, shutdown-notice, silence, withhold, outage, rest-down, rest-up`,
        })
    }
    answer(200, { ok: true, action })
  }
}
