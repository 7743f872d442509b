import { ActivityMonitor } from "../../domain/ActivityMonitor.js"

/**
 * What one shard (a group of symbols on one connection at a time) has been through. Its reconnect fiber
 * (`Shard.ts`) is the only writer, through the methods below; its REST poller and its watchdogs only read.
 */
export class ShardState {
  /** Data (trades or quotes) on the current connection, for the staleness watchdog. */
  readonly data: ActivityMonitor
  private everConnected = false
  private up = false
  private lostAtTs = 0
  private failuresInARow = 0
  private endedStale = false
  private blockedSinceTs: number | undefined

  constructor(startedAt: number, staleMs: number) {
    this.data = new ActivityMonitor(["data"], startedAt, staleMs, 10 * staleMs)
  }

  /** Connection attempts failed in a row; from FEED_POLL_AFTER_FAILURES on, REST polling stands in. */
  get failures(): number {
    return this.failuresInARow
  }

  /** When (exchange time) the last connection was lost. */
  get lostAt(): number {
    return this.lostAtTs
  }

  /** A connection is up: true when an earlier one was lost, so what it missed is to be fetched. */
  connected(openedAt: number): boolean {
    this.data.restart(openedAt, this.endedStale)
    const reconnected = this.everConnected
    this.endedStale = false
    this.failuresInARow = 0
    this.everConnected = true
    this.up = true
    return reconnected
  }

  /** A rotation's next connection took over. */
  rotated(openedAt: number): void {
    this.data.restart(openedAt, false)
  }

  /** The connection that was up is lost at `at` (exchange time): false when none was up. */
  lost(at: number): boolean {
    if (!this.up) return false
    this.up = false
    this.lostAtTs = at
    return true
  }

  /** A session ended; a stale one makes the next connection's first silence count from its start. */
  ended(stale: boolean): void {
    this.endedStale = stale
  }

  attemptFailed(): void {
    this.failuresInARow++
  }

  /** A batch waits for room downstream from `now` on (`undefined`: it found room). */
  blocked(now: number | undefined): void {
    this.blockedSinceTs = now
  }

  /** True when a batch has waited for room downstream for `graceMs` or longer: the daemon is what is slow. */
  heldBack(now: number, graceMs: number): boolean {
    return this.blockedSinceTs !== undefined && now - this.blockedSinceTs >= graceMs
  }
}
