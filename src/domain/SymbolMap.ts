/** Unified `BASE/QUOTE` symbols ↔ one venue's instrument names, for the symbols a feed subscribes to. */
export class SymbolMap {
  private readonly byVenue = new Map<string, string>()
  private readonly byUnified = new Map<string, string>()

  constructor(unified: ReadonlyArray<string>, venueOf: (unified: string) => string) {
    for (const u of unified) {
      const v = venueOf(u)
      this.byVenue.set(v, u)
      this.byUnified.set(u, v)
    }
  }

  /** The unified symbol of a venue instrument; undefined for an instrument nobody subscribed to. */
  unified(venue: string): string | undefined {
    return this.byVenue.get(venue)
  }

  venue(unified: string): string {
    const v = this.byUnified.get(unified)
    if (v === undefined) throw new Error(`symbol ${unified} is not configured`)
    return v
  }

  get unifiedSymbols(): ReadonlyArray<string> {
    return [...this.byUnified.keys()]
  }
}

/** Binance spot names concatenate base and quote: `BTC/USDT` → `BTCUSDT`. */
export const binanceInstrument = (unified: string): string => unified.replace("/", "")
