import type { ExchangeId } from "../schema/Market.js"

/** A trade the replay exchange makes up (replay/Synthetic.ts) and each protocol encodes as its venue would. */
export interface SyntheticTrade {
  readonly symbol: string
  readonly id: number
  readonly ts: number
  readonly price: string
  readonly qty: string
  readonly takerBuy: boolean
}

export interface SyntheticQuote {
  readonly symbol: string
  readonly ts: number
  readonly bid: string
  readonly ask: string
  readonly bidQty: string
  readonly askQty: string
}

export type MarketEvent =
  | { readonly kind: "trade"; readonly trade: SyntheticTrade }
  | { readonly kind: "quote"; readonly quote: SyntheticQuote }

/** A frame on its way to the clients subscribed to its topic. */
export interface Outbound {
  readonly topic: string
  readonly frame: string
  /** The trades in the frame, remembered for the subscribe snapshots of venues that send them. */
  readonly trades?: ReadonlyArray<SyntheticTrade>
  /**
   * The frame's entries in the venue's REST history where its encoding knows them, so that a load test's frames are
   * not read back one by one; otherwise `ReplayRest.record` reads them from the frame.
   */
  readonly ledger?: ReadonlyArray<LedgerEntry>
}

/** One record of a venue's REST history, under the history (endpoint and symbol) it belongs to. */
export interface LedgerEntry {
  readonly history: string
  readonly record: Record<string, unknown>
}

/** What the server answers to one client message, and the topics that message subscribed to. */
export interface ClientReply {
  readonly replies: ReadonlyArray<string>
  readonly topics: ReadonlyArray<string>
}

/**
 * The server side of one exchange's WebSocket protocol, enough for our feeds: subscriptions and their acks,
 * application pings, the exchange's own heartbeats and snapshots, and the encoding of synthetic events.
 */
export interface ReplayProtocol {
  readonly exchange: ExchangeId
  /** The topic a recorded frame belongs to; undefined for frames that are not market data (acks, heartbeats). */
  readonly topicOf: (frame: string) => string | undefined
  readonly encode: (event: MarketEvent) => ReadonlyArray<Outbound>
  readonly onMessage: (text: string) => ClientReply
  /** A frame of recent trades sent right after a topic is subscribed (Coinbase, Kraken). */
  readonly snapshot?: (topic: string, recent: ReadonlyArray<SyntheticTrade>) => string | undefined
  /** A frame sent every second to each client (Coinbase `heartbeats`, Kraken `heartbeat`). */
  readonly heartbeat?: (counter: number, now: number) => string
  /** The notice sent before the server closes connections (Binance `serverShutdown`, OKX notice 64008). */
  readonly shutdownNotice?: (now: number) => string
  /** Moves a recorded frame's timestamps by `deltaMs`. */
  readonly shift: (frame: string, deltaMs: number) => string
  /** The venue's REST history over what the tape has played; undefined where the replay serves none. */
  readonly rest?: ReplayRest
}

/** One REST history's records in the order played: an array, or a venue's more compact store with its methods. */
export interface History {
  readonly length: number
  at(index: number): Record<string, unknown> | undefined
  push(record: Record<string, unknown>): void
  slice(start?: number, end?: number): Array<Record<string, unknown>>
}

/** What the tape has played so far, per history (e.g. `aggTrades:BTCUSDT`), in id order; klines a test loaded. */
export interface Ledger {
  readonly records: Map<string, History>
  readonly klines: Map<string, Array<ReadonlyArray<string | number>>>
}

export interface RestAnswer {
  readonly status: number
  readonly body: unknown
  /** What the request cost of the venue's rate limit. */
  readonly weight: number
}

/** The server side of a venue's REST history: what a played frame adds to it, and the answer to a GET. */
export interface ReplayRest {
  /** Where the trades a frame carries go in the ledger: none for a frame without trades. */
  readonly record: (frame: string) => ReadonlyArray<LedgerEntry>
  readonly answer: (path: string, query: URLSearchParams, ledger: Ledger) => RestAnswer
  /** A new, empty history, where the venue keeps its records in less than an array of objects. */
  readonly history?: () => History
}

/** Enters a played frame's records into their histories. */
export const enter = (ledger: Ledger, entries: ReadonlyArray<LedgerEntry>, rest: ReplayRest | undefined): void => {
  for (const entry of entries) {
    let list = ledger.records.get(entry.history)
    if (list === undefined) {
      list = rest?.history?.() ?? []
      ledger.records.set(entry.history, list)
    }
    list.push(entry.record)
  }
}

export const parseOr = (text: string): Record<string, unknown> | undefined => {
  try {
    const v: unknown = JSON.parse(text)
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

export const NO_REPLY: ClientReply = { replies: [], topics: [] }

export const isoTime = (ms: number): string => new Date(ms).toISOString().replace("Z", "000Z")

/** Rewrites the named millisecond fields (numbers or numeric strings) anywhere in a frame. */
export const shiftFields = (frame: string, fields: ReadonlyArray<string>, deltaMs: number): string => {
  const re = new RegExp(`"(${fields.join("|")})":(")?(\\d{12,14})(")?`, "g")
  return frame.replace(re, (_m, k: string, q1: string | undefined, n: string, q2: string | undefined) => {
    return `"${k}":${q1 ?? ""}${Number(n) + deltaMs}${q2 ?? ""}`
  })
}

/** Rewrites ISO-8601 times anywhere in a frame. */
export const shiftIso = (frame: string, deltaMs: number): string =>
  frame.replace(/"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)"/g, (_m, iso: string) => {
    const fraction = /\.(\d+)Z$/.exec(iso)?.[1] ?? ""
    const shifted = new Date(Date.parse(iso) + deltaMs).toISOString()
    // Keep sub-millisecond digits as recorded.
    return `"${fraction.length > 3 ? shifted.replace("Z", `${fraction.slice(3)}Z`) : shifted}"`
  })
