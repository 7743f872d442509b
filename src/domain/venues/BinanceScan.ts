/**
 * A scanner for the one shape nearly every Binance trade frame has: `{"stream":"…","data":{…}}` written compactly,
 * `data` flat (strings, whole numbers, booleans), no escapes. It reads the fields a trade needs straight from the
 * text into a reused record, so the hot path skips building the objects JSON.parse would. Anything else (spaces,
 * escapes, fractions, exponents, negatives, nesting, a repeated field, a field of the wrong kind) makes it answer
 * false, and the frame takes the general path (JSON.parse and the schema), which then decides exactly as it
 * always did. So the scanner may only ever say less than the general path, never something different.
 */

/** What the stream name (after its `@`) or the event type `e` says the frame is. */
export const KIND = { other: 0, trade: 1, aggTrade: 2 } as const

/** The fields of a `trade` or `aggTrade` event the decoder reads, and which of them the frame had. */
export interface ScannedEvent {
  /** The kind the stream name says, as the general path reads it: what follows its first `@`, or all of it. */
  stream: number
  /** The kind `e` says (`other` for any other text). */
  e: number
  s: string
  p: string
  q: string
  E: number
  t: number
  T: number
  a: number
  f: number
  l: number
  m: boolean
  /** One bit per field above that the frame carried (see `FIELD`). */
  seen: number
}

export const emptyScan = (): ScannedEvent => ({
  stream: KIND.other,
  e: KIND.other,
  s: "",
  p: "",
  q: "",
  E: 0,
  t: 0,
  T: 0,
  a: 0,
  f: 0,
  l: 0,
  m: false,
  seen: 0,
})

export const FIELD = { e: 1, s: 2, p: 4, q: 8, E: 16, t: 32, T: 64, a: 128, f: 256, l: 512, m: 1024 } as const
const STRINGS = FIELD.e | FIELD.s | FIELD.p | FIELD.q
const NUMBERS = FIELD.E | FIELD.t | FIELD.T | FIELD.a | FIELD.f | FIELD.l

const QUOTE = 34
const COMMA = 44
const COLON = 58
const CLOSE = 125
const ZERO = 48
const NINE = 57
/** Whole numbers of up to 15 digits are exact in a double; longer ones are left to JSON.parse. */
const MAX_DIGITS = 15

const PREFIX = '{"stream":"'
const DATA = ',"data":{'

/** Escapes and raw control characters (which JSON.parse refuses inside strings) send the frame the general way. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const UNSCANNABLE = /[\u0000-\u001f\\]/

/** Whether `raw` holds `text` at `at`; a loop the compiler inlines, where `startsWith` is a call each time. */
const holdsAt = (raw: string, at: number, text: string): boolean => {
  if (at + text.length > raw.length) return false
  for (let i = 0; i < text.length; i++) if (raw.charCodeAt(at + i) !== text.charCodeAt(i)) return false
  return true
}

/** The bit of a one-letter field name the decoder reads; 0 for any other name (its value is checked, then skipped). */
const fieldBit = (raw: string, keyStart: number, keyEnd: number): number => {
  if (keyEnd !== keyStart + 1) return 0
  switch (raw.charCodeAt(keyStart)) {
    case 101:
      return FIELD.e
    case 115:
      return FIELD.s
    case 112:
      return FIELD.p
    case 113:
      return FIELD.q
    case 69:
      return FIELD.E
    case 116:
      return FIELD.t
    case 84:
      return FIELD.T
    case 97:
      return FIELD.a
    case 102:
      return FIELD.f
    case 108:
      return FIELD.l
    case 109:
      return FIELD.m
    default:
      return 0
  }
}

/** The kind the text `raw[from, to)` names, compared in place: most frames need no copy of it. */
const kindOf = (raw: string, from: number, to: number): number =>
  to - from === 5 && holdsAt(raw, from, "trade")
    ? KIND.trade
    : to - from === 8 && holdsAt(raw, from, "aggTrade")
      ? KIND.aggTrade
      : KIND.other

const setString = (out: ScannedEvent, bit: number, raw: string, from: number, to: number): void => {
  if (bit === FIELD.e) out.e = kindOf(raw, from, to)
  else if (bit === FIELD.s) out.s = raw.slice(from, to)
  else if (bit === FIELD.p) out.p = raw.slice(from, to)
  else out.q = raw.slice(from, to)
}

const setNumber = (out: ScannedEvent, bit: number, value: number): void => {
  if (bit === FIELD.E) out.E = value
  else if (bit === FIELD.t) out.t = value
  else if (bit === FIELD.T) out.T = value
  else if (bit === FIELD.a) out.a = value
  else if (bit === FIELD.f) out.f = value
  else out.l = value
}

/** Reads `raw` into `out` when it has the compact shape; false (with `out` meaningless) when it does not. */
export const scanEvent = (raw: string, out: ScannedEvent): boolean => {
  if (!holdsAt(raw, 0, PREFIX) || UNSCANNABLE.test(raw)) return false
  // With no escape anywhere, every string ends at its next quote.
  const streamEnd = raw.indexOf('"', PREFIX.length)
  if (streamEnd < 0 || !holdsAt(raw, streamEnd + 1, DATA)) return false
  const at = raw.indexOf("@", PREFIX.length)
  out.stream = kindOf(raw, at < 0 || at > streamEnd ? PREFIX.length : at + 1, streamEnd)
  out.seen = 0
  let i = streamEnd + 1 + DATA.length
  for (;;) {
    if (raw.charCodeAt(i) !== QUOTE) return false
    // Binance's names are one letter: the quote that closes one is checked for before any search.
    const keyEnd = raw.charCodeAt(i + 2) === QUOTE && raw.charCodeAt(i + 1) !== QUOTE ? i + 2 : raw.indexOf('"', i + 1)
    if (keyEnd < 0 || raw.charCodeAt(keyEnd + 1) !== COLON) return false
    const bit = fieldBit(raw, i + 1, keyEnd)
    // JSON.parse keeps the last of a repeated name; rather than copy that rule, such a frame goes its way.
    if ((out.seen & bit) !== 0) return false
    out.seen |= bit
    i = keyEnd + 2
    const c = raw.charCodeAt(i)
    if (c === QUOTE) {
      const end = raw.indexOf('"', i + 1)
      if (end < 0 || (bit !== 0 && (bit & STRINGS) === 0)) return false
      if (bit !== 0) setString(out, bit, raw, i + 1, end)
      i = end + 1
    } else if (c >= ZERO && c <= NINE) {
      if (bit !== 0 && (bit & NUMBERS) === 0) return false
      let value = 0
      const start = i
      for (let d = c; d >= ZERO && d <= NINE; d = raw.charCodeAt(++i)) value = value * 10 + (d - ZERO)
      // A leading zero is not JSON, and more digits than a double holds exactly are JSON.parse's to round.
      if (i - start > MAX_DIGITS || (c === ZERO && i - start > 1)) return false
      if (bit !== 0) setNumber(out, bit, value)
    } else if (c === 116 ? holdsAt(raw, i, "true") : c === 102 && holdsAt(raw, i, "false")) {
      if (bit !== 0 && bit !== FIELD.m) return false
      const value = c === 116
      if (bit !== 0) out.m = value
      i += value ? 4 : 5
    } else return false
    const next = raw.charCodeAt(i)
    if (next === COMMA) i++
    else return next === CLOSE && raw.charCodeAt(i + 1) === CLOSE && i + 2 === raw.length
  }
}

/** True when the scan carried every one of `fields` (a mask of `FIELD` bits). */
export const carries = (scan: ScannedEvent, fields: number): boolean => (scan.seen & fields) === fields
