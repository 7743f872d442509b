import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { AggTradeHistory } from "../../src/exchanges/binance/AggTradeHistory.js"

const digits = (min: number, max: number) =>
  fc.array(fc.constantFrom(..."0123456789"), { minLength: min, maxLength: max }).map((d) => d.join(""))

/** Decimal text as exchanges write it, and text the columns cannot hold, which must come back unchanged. */
const decimal = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 99_999 }), digits(0, 8)).map(([i, f]) => (f === "" ? String(i) : `${i}.${f}`)),
  fc.constantFrom("0", "0.0", "0.00100000", "67000.12000000", "1", "10", "0.00000001", "123456789012345"),
  fc.constantFrom("1234567890123456", "12345678901234.56", "1e-7", "-5", "007", "00.5", "1.", ".5", "", "1..2"),
  digits(1, 20),
)

const id = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })

const aggregate = fc.record({
  a: id,
  p: decimal,
  q: decimal,
  f: id,
  l: id,
  T: fc.integer({ min: 0, max: 4_102_444_800_000 }),
  m: fc.boolean(),
  M: fc.boolean(),
})

/** Records with a field of another type. */
const odd = fc.oneof(
  aggregate.map((r) => ({ ...r, a: String(r.a) })),
  aggregate.map((r) => ({ ...r, T: r.T + 0.5 })),
  aggregate.map((r) => ({ ...r, p: Number(r.p) })),
)

describe("AggTradeHistory", () => {
  it("gives back every record exactly as pushed, fields, types and order, as an array would", () => {
    fc.assert(
      fc.property(
        // Past the first 4,096 records, so that the columns grow.
        fc.oneof(
          fc.array(fc.oneof({ arbitrary: aggregate, weight: 4 }, { arbitrary: odd, weight: 1 })),
          fc.array(aggregate, { minLength: 4_097, maxLength: 9_000 }),
        ),
        fc.integer({ min: -9_100, max: 9_100 }),
        fc.integer({ min: -9_100, max: 9_100 }),
        (records, start, end) => {
          const history = new AggTradeHistory()
          for (const r of records) history.push(r)
          expect(history.length).toBe(records.length)
          // The same text as the array's (field order included), and the same values and types.
          expect(JSON.stringify(history.slice())).toBe(JSON.stringify(records))
          expect(history.slice()).toStrictEqual(records)
          expect(history.at(records.length)).toBeUndefined()
          expect(history.at(start)).toStrictEqual(records.at(start))
          expect(history.at(-1)).toStrictEqual(records.at(-1))
          expect(history.slice(start, end)).toStrictEqual(records.slice(start, end))
          expect(history.slice(start)).toStrictEqual(records.slice(start))
        },
      ),
      { numRuns: 40 },
    )
  })
})
