/**
 * Event-time progress of one feed: watermark(t) = lastEventTime + (t − lastArrivalTime).
 *
 * Live, it advances with the clock even when nothing trades, so candles close on time; in a replay faster than real
 * time it follows the events. It never moves backwards: an event that arrives later than its predecessors (relative
 * to its own timestamp) cannot pull the watermark back and reopen candles that were already final.
 */
export class Watermark {
  /** eventTime − arrivalTime of the most advanced observation. */
  private offset = Number.NEGATIVE_INFINITY

  observe(eventTs: number, arrivalTs: number): void {
    const offset = eventTs - arrivalTs
    if (offset > this.offset) this.offset = offset
  }

  get started(): boolean {
    return this.offset !== Number.NEGATIVE_INFINITY
  }

  /** Event time reached at clock time `now`; −∞ before the first event. */
  at(now: number): number {
    return now + this.offset
  }
}
