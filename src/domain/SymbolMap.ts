/** Venue instrument names → unified `BASE/QUOTE` symbols, for the symbols a feed subscribes to. */
export class SymbolMap {
  private readonly byVenue = new Map<string, string>()

  constructor(unified: ReadonlyArray<string>, venueOf: (unified: string) => string) {
    for (const u of unified) this.byVenue.set(venueOf(u), u)
  }

  /** The unified symbol of a venue instrument; undefined for an instrument nobody subscribed to. */
  unified(venue: string): string | undefined {
    return this.byVenue.get(venue)
  }
}

/** Binance spot names concatenate base and quote: `BTC/USDT` → `BTCUSDT`. */
export const binanceInstrument = (unified: string): string => unified.replace("/", "")
