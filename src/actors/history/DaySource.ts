import { Data, type Effect, type Scope, type Stream } from "effect"
import type { VenueCandle } from "../../domain/Reconciliation.js"
import type { Trade } from "../../schema/Market.js"

/** A day that cannot be read from its source: a file missing or corrupt, a REST history that does not answer. */
export class DayUnreadable extends Data.TaggedError("DayUnreadable")<{
  /** The file or URL, or the REST request, that failed. */
  readonly what: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `${this.what}: ${this.reason}`
  }
}

export interface Day {
  readonly symbol: string
  /** The exchange's name of the symbol. */
  readonly instrument: string
  /** `YYYY-MM-DD`, UTC. */
  readonly day: string
  readonly start: number
  readonly end: number
}

/** Where the history command reads a day from: its trades in order, and the exchange's 1m candles to check them by. */
export interface DaySource {
  /** `archive` or `rest`: the `source` of its checkpoints. */
  readonly name: string
  readonly trades: (day: Day) => Stream.Stream<ReadonlyArray<Trade>, DayUnreadable, Scope.Scope>
  /** The exchange's 1m candles of the day by open time; undefined where the source has none to check by. */
  readonly klines: (day: Day) => Effect.Effect<ReadonlyMap<number, VenueCandle> | undefined, DayUnreadable, Scope.Scope>
}
