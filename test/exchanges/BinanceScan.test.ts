import { readFileSync } from "node:fs"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { binanceInstrument, decodeGeneral, makeParser } from "../../src/exchanges/binance/Venue.js"
import { emptyScan, scanEvent } from "../../src/exchanges/binance/Scan.js"
import { SymbolMap } from "../../src/domain/SymbolMap.js"
import type { Decoded } from "../../src/exchanges/Venue.js"

// Cheap enough to run five times the other fuzz tests' default.
const RUNS = Number(process.env.FUZZ_RUNS ?? 5_000)
const SEED = Number(process.env.FUZZ_SEED ?? 20261201)
const settings = { numRuns: RUNS, seed: SEED, endOnFailure: true }

const FIXTURES = new URL("../../../shared/fixtures/binance/", import.meta.url)
const recorded = ["aggTrade.jsonl", "trade.tardis.jsonl", "bookTicker.jsonl"].flatMap((f) =>
  readFileSync(new URL(f, FIXTURES), "utf8")
    .split("\n")
    .filter((l) => l.length > 0),
)
const symbols = new SymbolMap(
  [...new Set(recorded.map((l) => /"s":"([A-Z0-9]+)"/.exec(l)?.[1]).filter((s) => s !== undefined))].map(
    (s) => `${s.slice(0, -4)}/${s.slice(-4)}`,
  ),
  binanceInstrument,
)
const NOW = Date.UTC(2026, 0, 1)

/** A decoded frame with its lazy detail written out, so two decodings compare by value. */
const settled = (d: Decoded) => (d._tag === "Invalid" ? { ...d, detail: d.detail() } : d)

const fast = makeParser(symbols)
const general = decodeGeneral(symbols)
const same = (raw: string): void => {
  expect(settled(fast(raw, NOW)), raw).toEqual(settled(general(raw, NOW)))
}

/** A value as JSON text, including forms JSON.parse takes that the scanner leaves to it, and some it refuses. */
const valueText = fc.oneof(
  fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s)),
  fc.constantFrom('"trade"', '"aggTrade"', '"BTCUSDT"', '"0.01000000"', '"1e3"', '"abc"', '"a\\"b"', '"\\u0041"'),
  fc.nat().map(String),
  fc.constantFrom("0", "00", "0123", "-1", "1.5", "1e3", "123456789012345", "1234567890123456", "9007199254740993"),
  fc.constantFrom("true", "false", "null", "[]", "{}", '{"x":1}', "tru", "True"),
)
const key = fc.constantFrom(
  "e",
  "E",
  "s",
  "t",
  "p",
  "q",
  "T",
  "m",
  "M",
  "a",
  "f",
  "l",
  "u",
  "b",
  "B",
  "A",
  "x",
  "ee",
  "",
)
const stream = fc.constantFrom(
  "btcusdt@trade",
  "ethusdt@aggTrade",
  "zilusdt@aggTrade",
  "btcusdt@bookTicker",
  "x",
  "trade",
  "aggTrade",
  "a@b@trade",
  "btcusdt@trades",
  "bookTicker",
  "ethusdt@bookTicker",
)

const entriesText = (entries: ReadonlyArray<readonly [string, string]>) =>
  entries.map(([k, v]) => `"${k}":${v}`).join(",")

/** A frame in the compact shape, written by hand so that it can repeat a name or carry any value text. */
const compactFrame = fc
  .tuple(stream, fc.array(fc.tuple(key, valueText), { maxLength: 14 }))
  .map(([s, entries]) => `{"stream":"${s}","data":{${entriesText(entries)}}}`)

const decimalText = fc.constantFrom(
  '"0.01000000"',
  '"30000.10"',
  '"1"',
  '"0"',
  '"1e5"',
  '"-1"',
  '"12345678901234567890.1"',
)
const idText = fc.oneof(fc.nat().map(String), fc.constantFrom("0", "9007199254740991", "1700000000000"))

/**
 * A trade or aggTrade event as Binance writes one, its fields in any order, one of them perhaps left out, and a few
 * other names perhaps added: mostly frames the scanner reads, each with a reason the general path might differ.
 */
const tradeFrame = fc
  .record({
    symbol: fc.constantFrom("BTCUSDT", "ZILUSDT", "NOPEUSDT"),
    kind: fc.constantFrom("trade", "aggTrade", "bookTicker"),
    p: decimalText,
    q: decimalText,
    ids: fc.tuple(idText, idText, idText, idText, idText),
    m: fc.constantFrom("true", "false"),
    extra: fc.array(fc.tuple(fc.constantFrom("M", "b", "a", "x", "ee"), valueText), { maxLength: 2 }),
  })
  .chain(({ symbol, kind, p, q, ids: [t, T, E, f, l], m, extra }) => {
    const fields: Array<readonly [string, string]> =
      kind === "bookTicker"
        ? [
            ["u", t],
            ["s", `"${symbol}"`],
            ["b", p],
            ["B", q],
            ["a", p],
            ["A", q],
          ]
        : kind === "aggTrade"
          ? [
              ["e", '"aggTrade"'],
              ["E", E],
              ["s", `"${symbol}"`],
              ["a", t],
              ["p", p],
              ["q", q],
              ["f", f],
              ["l", l],
              ["T", T],
              ["m", m],
            ]
          : [
              ["e", '"trade"'],
              ["E", E],
              ["s", `"${symbol}"`],
              ["t", t],
              ["p", p],
              ["q", q],
              ["T", T],
              ["m", m],
            ]
    const stream = `${symbol.toLowerCase()}@${kind}`
    return fc
      .shuffledSubarray([...fields, ...extra], { minLength: fields.length + extra.length - 1 })
      .map((entries) => `{"stream":"${stream}","data":{${entriesText(entries)}}}`)
  })

/** A recorded frame with one character inserted, removed or replaced. */
const mutated = fc
  .tuple(fc.constantFrom(...recorded), fc.nat(), fc.constantFrom("insert", "remove", "replace"), fc.char())
  .map(([raw, at, how, c]) => {
    const i = at % raw.length
    return how === "insert"
      ? raw.slice(0, i) + c + raw.slice(i)
      : raw.slice(0, i) + (how === "replace" ? c : "") + raw.slice(i + 1)
  })

describe("the compact-frame scanner beside the general Binance decoder", () => {
  it("decodes every recorded frame exactly as the general path does, and scans every one of them", () => {
    const scan = emptyScan()
    expect(recorded.length).toBeGreaterThan(7_000)
    for (const raw of recorded) same(raw)
    expect(recorded.filter((raw) => !scanEvent(raw, scan))).toEqual([])
  })

  it("agrees with the general path on trade and book-ticker frames with fields in any order, one missing, or others added", () => {
    const decoded = { Trade: 0, Quote: 0 }
    fc.assert(
      fc.property(tradeFrame, (raw) => {
        same(raw)
        const tag = fast(raw, NOW)._tag
        if (tag === "Trade" || tag === "Quote") decoded[tag]++
      }),
      settings,
    )
    // Not vacuous: many of them were trades and quotes.
    expect(decoded.Trade).toBeGreaterThan(RUNS / 40)
    expect(decoded.Quote).toBeGreaterThan(RUNS / 40)
  })

  it("agrees with the general path on frames in the compact shape with any names, values, order and repeats", () => {
    const scan = emptyScan()
    let scanned = 0
    fc.assert(
      fc.property(compactFrame, (raw) => {
        if (scanEvent(raw, scan)) scanned++
        same(raw)
      }),
      settings,
    )
    // Not vacuous: some frames took the scanner's path.
    expect(scanned).toBeGreaterThan(RUNS / 50)
  })

  it("agrees with the general path on recorded frames with one character changed", () => {
    fc.assert(
      fc.property(mutated, (raw) => same(raw)),
      settings,
    )
  })

  it("leaves to the general path what it does not read: spaces, escapes (in names and values), fractions, big numbers, a repeated name", () => {
    const base = recorded[0]!
    const scan = emptyScan()
    expect(scanEvent(base, scan)).toBe(true)
    for (const raw of [
      base.replace('"data":{', '"data": {'),
      base.replace('"e":"aggTrade"', '"e":"agg\\u0054rade"'),
      // An escape or a raw control character in a name or the stream's name, where the next quote may not end it.
      base.replace('"m":', '"\\":"x","m":'),
      base.replace('"m":', '"\\u006d":'),
      base.replace('"m":', '"m\t":1,"m":'),
      base.replace('"stream":"', '"stream":"\\"'),
      base.replace(/"a":(\d+)/, '"a":$1.0'),
      base.replace(/"a":(\d+)/, '"a":1234567890123456'),
      base.replace('"m":', '"m":false,"m":'),
      `${base} `,
    ])
      expect(scanEvent(raw, scan), raw).toBe(false)
  })
})
