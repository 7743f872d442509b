/**
 * A scanner for the one shape nearly every Binance trade and book-ticker frame has: `{"stream":"…","data":{…}}` written compactly,
 * `data` flat (strings, whole numbers, booleans), no escapes. It reads the fields a trade or quote needs straight from the
 * text into a reused record, so the hot path skips building the objects JSON.parse would. Anything else (spaces,
 * escapes, fractions, exponents, negatives, nesting, a repeated field, a field of the wrong kind) makes it answer
 * false, and the frame takes the general path (JSON.parse and the schema), which then decides exactly as it
 * always did. So the scanner may only ever say less than the general path, never something different.
 */

/** What the stream name (after its `@`) or the event type `e` says the frame is. */
export const KIND = { other: 0, trade: 1, aggTrade: 2, bookTicker: 3 } as const

/** The fields of a `trade`, `aggTrade` or `bookTicker` event the decoder reads, and which of them the frame had. */
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
  /** `a` as a number: an aggTrade's id. */
  a: number
  f: number
  l: number
  m: boolean
  u: number
  b: string
  B: string
  /** `a` as a string: a book ticker's ask. */
  aStr: string
  A: string
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
  u: 0,
  b: "",
  B: "",
  aStr: "",
  A: "",
  seen: 0,
})

/** A field, by name and the kind of value it had (a name may stand for two: `a` is an id or an ask). */
export const FIELD = {
  e: 1 << 0,
  s: 1 << 1,
  p: 1 << 2,
  q: 1 << 3,
  E: 1 << 4,
  t: 1 << 5,
  T: 1 << 6,
  a: 1 << 7,
  f: 1 << 8,
  l: 1 << 9,
  m: 1 << 10,
  u: 1 << 11,
  b: 1 << 12,
  B: 1 << 13,
  aStr: 1 << 14,
  A: 1 << 15,
} as const

/** A value of a kind the general path refuses for that name: the frame goes its way. */
const REFUSE = -1
/** A value the decoder does not read (an old trade frame's numeric `b`): checked, then skipped. */
const SKIP = 0

/**
 * Per name the decoder reads (by index, see `nameIndex`): the field a string, a number or a boolean goes to, or
 * REFUSE or SKIP.
 */
const AS_STRING = [
  SKIP,
  FIELD.e,
  FIELD.s,
  FIELD.p,
  FIELD.q,
  REFUSE,
  REFUSE,
  REFUSE,
  FIELD.aStr,
  REFUSE,
  REFUSE,
  REFUSE,
  REFUSE,
  FIELD.b,
  FIELD.B,
  FIELD.A,
]
const AS_NUMBER = [
  SKIP,
  REFUSE,
  REFUSE,
  REFUSE,
  REFUSE,
  FIELD.E,
  FIELD.t,
  FIELD.T,
  FIELD.a,
  FIELD.f,
  FIELD.l,
  REFUSE,
  FIELD.u,
  SKIP,
  REFUSE,
  REFUSE,
]
const AS_BOOLEAN = [
  SKIP,
  REFUSE,
  REFUSE,
  REFUSE,
  REFUSE,
  REFUSE,
  REFUSE,
  REFUSE,
  REFUSE,
  REFUSE,
  REFUSE,
  FIELD.m,
  REFUSE,
  REFUSE,
  REFUSE,
  REFUSE,
]

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

const BACKSLASH = 92
const SPACE = 32

/**
 * Whether a string's contents hold neither an escape nor a raw control character (which JSON.parse refuses): only
 * then does it end at its next quote. Anything else sends the frame the general way. Checked per string, since
 * outside strings the scan accepts nothing but the exact characters of the compact shape.
 */
const plain = (raw: string, from: number, to: number): boolean => {
  for (let i = from; i < to; i++) {
    const c = raw.charCodeAt(i)
    if (c < SPACE || c === BACKSLASH) return false
  }
  return true
}

/** Whether `raw` holds `text` at `at`; a loop the compiler inlines, where `startsWith` is a call each time. */
const holdsAt = (raw: string, at: number, text: string): boolean => {
  if (at + text.length > raw.length) return false
  for (let i = 0; i < text.length; i++) if (raw.charCodeAt(at + i) !== text.charCodeAt(i)) return false
  return true
}

/** The index of a one-letter name the decoder reads (e s p q E t T a f l m u b B A: 1 to 15); 0 for any other. */
const nameIndex = (raw: string, keyStart: number, keyEnd: number): number => {
  if (keyEnd !== keyStart + 1) return 0
  switch (raw.charCodeAt(keyStart)) {
    case 101: // e
      return 1
    case 115: // s
      return 2
    case 112: // p
      return 3
    case 113: // q
      return 4
    case 69: // E
      return 5
    case 116: // t
      return 6
    case 84: // T
      return 7
    case 97: // a
      return 8
    case 102: // f
      return 9
    case 108: // l
      return 10
    case 109: // m
      return 11
    case 117: // u
      return 12
    case 98: // b
      return 13
    case 66: // B
      return 14
    case 65: // A
      return 15
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
      : to - from === 10 && holdsAt(raw, from, "bookTicker")
        ? KIND.bookTicker
        : KIND.other

const setString = (out: ScannedEvent, field: number, raw: string, from: number, to: number): void => {
  if (field === FIELD.e) out.e = kindOf(raw, from, to)
  else if (field === FIELD.s) out.s = raw.slice(from, to)
  else if (field === FIELD.p) out.p = raw.slice(from, to)
  else if (field === FIELD.q) out.q = raw.slice(from, to)
  else if (field === FIELD.b) out.b = raw.slice(from, to)
  else if (field === FIELD.B) out.B = raw.slice(from, to)
  else if (field === FIELD.aStr) out.aStr = raw.slice(from, to)
  else out.A = raw.slice(from, to)
}

const setNumber = (out: ScannedEvent, field: number, value: number): void => {
  if (field === FIELD.E) out.E = value
  else if (field === FIELD.t) out.t = value
  else if (field === FIELD.T) out.T = value
  else if (field === FIELD.a) out.a = value
  else if (field === FIELD.f) out.f = value
  else if (field === FIELD.l) out.l = value
  else out.u = value
}

/** Reads `raw` into `out` when it has the compact shape; false (with `out` meaningless) when it does not. */
export const scanEvent = (raw: string, out: ScannedEvent): boolean => {
  if (!holdsAt(raw, 0, PREFIX)) return false
  const streamEnd = raw.indexOf('"', PREFIX.length)
  if (streamEnd < 0 || !plain(raw, PREFIX.length, streamEnd) || !holdsAt(raw, streamEnd + 1, DATA)) return false
  const at = raw.indexOf("@", PREFIX.length)
  out.stream = kindOf(raw, at < 0 || at > streamEnd ? PREFIX.length : at + 1, streamEnd)
  out.seen = 0
  let names = 0
  let i = streamEnd + 1 + DATA.length
  for (;;) {
    if (raw.charCodeAt(i) !== QUOTE) return false
    // Binance's names are one letter: the quote that closes one is checked for before any search.
    const keyEnd = raw.charCodeAt(i + 2) === QUOTE && raw.charCodeAt(i + 1) !== QUOTE ? i + 2 : raw.indexOf('"', i + 1)
    if (keyEnd < 0 || raw.charCodeAt(keyEnd + 1) !== COLON || !plain(raw, i + 1, keyEnd)) return false
    const name = nameIndex(raw, i + 1, keyEnd)
    // JSON.parse keeps the last of a repeated name; rather than copy that rule, such a frame goes its way.
    if (name !== 0) {
      if ((names & (1 << name)) !== 0) return false
      names |= 1 << name
    }
    i = keyEnd + 2
    const c = raw.charCodeAt(i)
    let field: number
    if (c === QUOTE) {
      const end = raw.indexOf('"', i + 1)
      field = AS_STRING[name]!
      if (end < 0 || field === REFUSE || !plain(raw, i + 1, end)) return false
      if (field !== SKIP) setString(out, field, raw, i + 1, end)
      i = end + 1
    } else if (c >= ZERO && c <= NINE) {
      field = AS_NUMBER[name]!
      if (field === REFUSE) return false
      let value = 0
      const start = i
      for (let d = c; d >= ZERO && d <= NINE; d = raw.charCodeAt(++i)) value = value * 10 + (d - ZERO)
      // A leading zero is not JSON, and more digits than a double holds exactly are JSON.parse's to round.
      if (i - start > MAX_DIGITS || (c === ZERO && i - start > 1)) return false
      if (field !== SKIP) setNumber(out, field, value)
    } else if (c === 116 ? holdsAt(raw, i, "true") : c === 102 && holdsAt(raw, i, "false")) {
      field = AS_BOOLEAN[name]!
      if (field === REFUSE) return false
      const value = c === 116
      if (field !== SKIP) out.m = value
      i += value ? 4 : 5
    } else return false
    out.seen |= field
    const next = raw.charCodeAt(i)
    if (next === COMMA) i++
    else return next === CLOSE && raw.charCodeAt(i + 1) === CLOSE && i + 2 === raw.length
  }
}

/** True when the scan carried every one of `fields` (a mask of `FIELD` bits). */
export const carries = (scan: ScannedEvent, fields: number): boolean => (scan.seen & fields) === fields
