import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Decimal from "../../src/domain/Decimal.js"

const scan = (text: string) => {
  const into: Decimal.Scanned = { units: 0, scale: 0 }
  return Decimal.scan(text, into) ? into : undefined
}

describe("Decimal", () => {
  it("scans decimal text exactly, dropping trailing zeros", () => {
    expect(scan("0.21448000")).toEqual({ units: 21448, scale: 5 })
    expect(scan("15")).toEqual({ units: 15, scale: 0 })
    expect(scan("2062.90000000")).toEqual({ units: 20629, scale: 1 })
    expect(scan("-0.5")).toEqual({ units: -5, scale: 1 })
    expect(scan("1e-7")).toEqual({ units: 1, scale: 7 })
    expect(scan("123456789012345678901234.5")).toEqual({ units: 1234567890123456789012345n, scale: 1 })
    for (const bad of ["", "-", ".", "1.2.3", "abc", "1e", "0x10"]) expect(scan(bad), bad).toBeUndefined()
  })

  it("refuses an exponent past ±64 at once, rather than build a number of millions of digits", () => {
    for (const bad of ["0.9e9204000", "1e-9999999", "1E65", "-2.5e-65"]) expect(scan(bad), bad).toBeUndefined()
    expect(scan("1e64")).toEqual({ units: 10n ** 64n, scale: 0 })
    expect(scan("2.5e-64")).toEqual({ units: 25, scale: 65 })
  })

  it("converts to the same double as Number(text)", () => {
    for (const text of ["0.21448000", "0.00009392", "50123.45", "1e-7", "8.14000000", "0.1", "0.3", "123456.789"])
      expect(Decimal.toNumber(scan(text)!)).toBe(Number(text))
  })

  it("numberOf gives Number(text) for any text, decimal or not", () => {
    const digits = fc.stringOf(fc.constantFrom(..."0123456789"), { minLength: 1, maxLength: 30 })
    const decimalText = fc
      .tuple(fc.constantFrom("", "-", "+"), digits, fc.option(digits), fc.option(fc.integer({ min: -80, max: 80 })))
      .map(
        ([sign, whole, frac, exp]) =>
          `${sign}${whole}${frac === null ? "" : `.${frac}`}${exp === null ? "" : `e${exp}`}`,
      )
    const anyText = fc.oneof(
      decimalText,
      fc.string({ maxLength: 12 }),
      fc.constantFrom("", ".", "5.", ".5", " 5", "0x10", "-0"),
    )
    fc.assert(
      fc.property(anyText, (text) => {
        expect(Object.is(Decimal.numberOf(text), Number(text)), text).toBe(true)
      }),
      { numRuns: 5_000 },
    )
  })

  it("sums exactly past 2^53, switching to bigint without losing a unit", () => {
    const sum = new Decimal.DecimalSum()
    const price = scan("98765.4321")!
    const qty = scan("123.45678901")!
    let expected = 0n
    for (let i = 0; i < 10_000; i++) {
      const pq = Decimal.multiplyUnits(price.units, qty.units)
      sum.add(pq, price.scale + qty.scale)
      expected += 987654321n * 12345678901n
    }
    expect(sum.format()).toBe(Decimal.format({ units: expected, scale: 12 }))
  })

  it("rescales when a later addend has more fractional digits", () => {
    const sum = new Decimal.DecimalSum()
    sum.add(15, 1) // 1.5
    sum.add(25, 2) // 0.25
    sum.add(1, 0) // 1
    expect(sum.format()).toBe("2.75")
  })

  it("divides with half-up rounding for vwap", () => {
    expect(Decimal.divideToText({ units: 10n, scale: 0 }, { units: 3n, scale: 0 }, 4)).toBe("3.3333")
    expect(Decimal.divideToText({ units: 20n, scale: 0 }, { units: 3n, scale: 0 }, 4)).toBe("6.6667")
    expect(Decimal.divideToText({ units: 1n, scale: 0 }, { units: 0n, scale: 0 }, 4)).toBeUndefined()
  })
})
