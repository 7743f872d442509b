import { describe, expect, it } from "vitest"
import { binanceInstrument, makeParser } from "../../src/exchanges/binance/Venue.js"
import { SymbolMap } from "../../src/domain/SymbolMap.js"
import { fixtureLines } from "../support/fixtures.js"

/** Every instrument in the recordings, subscribed, so that nothing is ignored for being unsubscribed. */
const everything = (files: ReadonlyArray<string>) => {
  const venues = new Set<string>()
  for (const f of files)
    for (const line of fixtureLines(f)) venues.add((JSON.parse(line) as { data: { s: string } }).data.s)
  // Any split round-trips through binanceInstrument (concatenation).
  return new SymbolMap(
    [...venues].map((v) => `${v.slice(0, 3)}/${v.slice(3)}`),
    binanceInstrument,
  )
}

describe("Binance frame parser", () => {
  const files = [
    "binance/aggTrade.jsonl",
    "binance/bookTicker.jsonl",
    "binance/trade.tardis.jsonl",
    "binance_us/aggTrade.jsonl",
    "binance_us/bookTicker.jsonl",
  ]
  const parse = makeParser(everything(files))

  it.each([
    ["binance/aggTrade.jsonl", "Trade", 1294],
    ["binance/bookTicker.jsonl", "Quote", 6474],
    ["binance/trade.tardis.jsonl", "Trade", 2],
    ["binance_us/aggTrade.jsonl", "Trade", 209],
    ["binance_us/bookTicker.jsonl", "Quote", 3323],
  ])("parses every frame of %s as a %s (%i frames)", (file, tag, count) => {
    const parsed = fixtureLines(file).map((l) => parse(l, 1))
    expect(parsed.filter((f) => f._tag === tag)).toHaveLength(count)
    expect(parsed).toHaveLength(count)
  })

  it("keeps exact decimal text and numbers equal to Number(text)", () => {
    for (const line of fixtureLines("binance/aggTrade.jsonl")) {
      const f = parse(line, 1)
      const data = (JSON.parse(line) as { data: { p: string; q: string; a: number; l: number; f: number; m: boolean } })
        .data
      if (f._tag !== "Trade") throw new Error("not a trade")
      expect([f.priceText, f.qtyText, f.price, f.qty]).toEqual([data.p, data.q, Number(data.p), Number(data.q)])
      expect([f.tradeId, f.seq, f.count, f.side]).toEqual([
        String(data.a),
        data.a,
        data.l - data.f + 1,
        data.m ? "sell" : "buy",
      ])
    }
  })

  it("reads taker side and ids from the older @trade frames that still carry b/a", () => {
    const [first] = fixtureLines("binance/trade.tardis.jsonl").map((l) => parse(l, 1))
    expect(first).toMatchObject({ _tag: "Trade", symbol: "BNB/BTC", tradeId: "40756030", side: "buy", count: 1 })
  })

  it("classifies control answers, errors, unknown streams and bad input without throwing", () => {
    const cases: Array<[string, string, string?]> = [
      ['{"result":null,"id":1}', "Control"],
      ['{"error":{"code":2,"msg":"Invalid request"},"id":3}', "ServerError"],
      ['{"stream":"btcusdt@depth","data":{}}', "Ignored", "unknown_stream"],
      [
        '{"stream":"dogeusdt@trade","data":{"e":"trade","E":1,"s":"DOGEUSDT","t":1,"p":"1","q":"1","T":1,"m":true}}',
        "Ignored",
        "unsubscribed_symbol",
      ],
      ['{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCU', "Invalid", "malformed_json"],
      ['{"stream":"zilusdt@aggTrade","data":{"e":"aggTrade","a":"x"}}', "Invalid", "schema"],
      [
        '{"stream":"zilusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"ZILUSDT","a":1,"p":"1e","q":"1","f":1,"l":1,"T":1,"m":true}}',
        "Invalid",
        "schema",
      ],
      ["[1,2,3]", "Invalid", "unknown_frame"],
      ["null", "Invalid", "unknown_frame"],
      ["", "Invalid", "malformed_json"],
    ]
    for (const [raw, tag, reason] of cases) {
      const f = parse(raw, 1)
      expect(f._tag, raw).toBe(tag)
      if (reason !== undefined) expect((f as { reason: string }).reason, raw).toBe(reason)
    }
  })

  it("reads a serverShutdown event, bare or in a stream envelope, as the signal to replace the connection", () => {
    expect(parse('{"e":"serverShutdown","E":1727836800000}', 1)).toEqual({ _tag: "Shutdown", detail: "serverShutdown" })
    expect(parse('{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1727836800000}}', 1)._tag).toBe(
      "Shutdown",
    )
  })
})
