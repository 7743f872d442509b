/** A key (a symbol, or a whole connection) turned quiet or active again. */
export interface QuietTransition {
  readonly key: string
  readonly quiet: boolean
  /** Silence so far, and the limit it was judged against. */
  readonly silentMs: number
  readonly limitMs: number
}

/** Weight of the newest interval in the moving average. */
const ALPHA = 0.2
/** Silence counts as unusual past this many average intervals. */
const FACTOR = 20

interface KeyState {
  lastAt: number
  seen: boolean
  meanMs: number | undefined
  quiet: boolean
  /** Multiplies the limit after silences that were forgiven without data arriving (see `restart`). */
  slack: number
}

/** Forgiven silences widen the limit up to this factor. */
const MAX_SLACK = 64

/**
 * How long each key has been silent, judged against its own observed rate: a symbol that trades every 50 ms is
 * suspicious after seconds of silence, one that trades every ten minutes is not after an hour. The limit is
 * `FACTOR` mean intervals, clamped to [minLimitMs, maxLimitMs]; before any interval is known it is minLimitMs.
 */
export class ActivityMonitor {
  private readonly states = new Map<string, KeyState>()

  constructor(
    keys: ReadonlyArray<string>,
    now: number,
    private readonly minLimitMs: number,
    private readonly maxLimitMs: number,
  ) {
    for (const k of keys) this.states.set(k, { lastAt: now, seen: false, meanMs: undefined, quiet: false, slack: 1 })
  }

  /** Data arrived; returns the transition back to active when the key had been reported quiet. */
  observe(key: string, now: number): QuietTransition | undefined {
    const s = this.states.get(key)
    if (s === undefined) return undefined
    const interval = Math.max(0, now - s.lastAt)
    // The time from start to the first arrival says nothing about the rate; every later interval does, long
    // silences included, which is how an illiquid symbol's limit grows instead of alarming forever.
    if (s.seen) s.meanMs = s.meanMs === undefined ? interval : s.meanMs + ALPHA * (interval - s.meanMs)
    s.seen = true
    s.lastAt = now
    s.slack = 1
    if (!s.quiet) return undefined
    s.quiet = false
    return { key, quiet: false, silentMs: interval, limitMs: this.limit(s) }
  }

  /**
   * Restarts every key's silence clock, e.g. for a new connection that has not had its chance to deliver yet. With
   * `widen`, the silence before was judged too soon: the limit doubles until data arrives again, so a connection
   * whose every symbol is genuinely idle is replaced ever more rarely instead of in a loop.
   */
  restart(now: number, widen: boolean): void {
    for (const s of this.states.values()) {
      s.lastAt = Math.max(s.lastAt, now)
      s.quiet = false
      if (widen) s.slack = Math.min(MAX_SLACK, s.slack * 2)
    }
  }

  private limit(s: KeyState): number {
    const adaptive = s.meanMs === undefined ? this.minLimitMs : FACTOR * s.meanMs
    return Math.min(this.maxLimitMs, Math.max(this.minLimitMs, adaptive)) * s.slack
  }

  /** Keys that became quiet by `now`. */
  check(now: number): Array<QuietTransition> {
    const out: Array<QuietTransition> = []
    for (const [key, s] of this.states) {
      const limitMs = this.limit(s)
      if (!s.quiet && now - s.lastAt >= limitMs) {
        s.quiet = true
        out.push({ key, quiet: true, silentMs: now - s.lastAt, limitMs })
      }
    }
    return out
  }

  /** When the next key would turn quiet, if nothing arrives before. */
  nextCheckAt(): number {
    let next = Number.POSITIVE_INFINITY
    for (const s of this.states.values()) if (!s.quiet) next = Math.min(next, s.lastAt + this.limit(s))
    return next
  }
}
