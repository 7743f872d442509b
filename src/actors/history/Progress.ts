import { SingleBar, MultiBar, Presets } from "cli-progress"

export type DayOutcome = "done" | "failed" | "skipped"

/** What the history command tells whoever watches it: a bar per symbol on a terminal, JSON lines elsewhere. */
export interface Progress {
  readonly dayStarted: (symbol: string, day: string) => void
  readonly trades: (symbol: string, n: number) => void
  readonly dayEnded: (symbol: string, day: string, outcome: DayOutcome, trades: number, mismatches: number) => void
  readonly stop: () => void
}

/** How often a JSON progress line per symbol is written while a day loads. */
const JSON_EVERY_MS = 5_000

interface Counter {
  readonly startedAt: number
  trades: number
  days: number
  day: string
}

const rateOf = (c: Counter, now: number) => Math.round((c.trades * 1_000) / Math.max(1, now - c.startedAt))

/**
 * `cli-progress` bars on a terminal (one per symbol: days done of the range, the day loading, trades/s, ETA), or
 * one JSON object per line when stdout is not a terminal (a log collector, a pipe): `day_started`, `progress`
 * every few seconds, `day_ended`.
 */
export const makeProgress = (symbols: ReadonlyArray<string>, totalDays: number, tty: boolean): Progress => {
  const counters = new Map<string, Counter>(
    symbols.map((s) => [s, { startedAt: Date.now(), trades: 0, days: 0, day: "" }]),
  )
  const counter = (symbol: string) => counters.get(symbol)!
  if (tty) {
    const multi = new MultiBar(
      {
        format: "{symbol} |{bar}| {value}/{total} days | {day} | {rate} trades/s | ETA {eta_formatted}",
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 20,
      },
      Presets.shades_classic,
    )
    const bars = new Map<string, SingleBar>(
      symbols.map((s) => [s, multi.create(totalDays, 0, { symbol: s, day: "", rate: 0 })]),
    )
    const show = (symbol: string) => {
      const c = counter(symbol)
      bars.get(symbol)!.update(c.days, { day: c.day, rate: rateOf(c, Date.now()) })
    }
    return {
      dayStarted: (symbol, day) => {
        counter(symbol).day = day
        show(symbol)
      },
      trades: (symbol, n) => {
        counter(symbol).trades += n
        show(symbol)
      },
      dayEnded: (symbol) => {
        counter(symbol).days++
        show(symbol)
      },
      stop: () => multi.stop(),
    }
  }
  const line = (event: string, symbol: string, fields: Record<string, unknown>) => {
    const c = counter(symbol)
    process.stdout.write(
      `${JSON.stringify({ event, symbol, ...fields, daysDone: c.days, daysTotal: totalDays, tradesPerSec: rateOf(c, Date.now()) })}\n`,
    )
  }
  let lastLine = Date.now()
  return {
    dayStarted: (symbol, day) => {
      counter(symbol).day = day
      line("day_started", symbol, { day })
    },
    trades: (symbol, n) => {
      const c = counter(symbol)
      c.trades += n
      const now = Date.now()
      if (now - lastLine < JSON_EVERY_MS) return
      lastLine = now
      line("progress", symbol, { day: c.day, trades: c.trades })
    },
    dayEnded: (symbol, day, outcome, trades, mismatches) => {
      counter(symbol).days++
      line("day_ended", symbol, { day, outcome, trades, mismatches })
    },
    stop: () => {},
  }
}
