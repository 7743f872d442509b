/** Venue instrument names → unified `BASE/QUOTE` symbols, for the symbols a feed subscribes to. */
export class SymbolMap {
  private readonly byVenue = new Map<string, string>()

  constructor(
    unified: ReadonlyArray<string>,
    venueOf: (unified: string) => string,
    aliasesOf: (unified: string) => ReadonlyArray<string> = () => [],
  ) {
    for (const u of unified) {
      this.byVenue.set(venueOf(u), u)
      for (const alias of aliasesOf(u)) this.byVenue.set(alias, u)
    }
  }

  /** The unified symbol of a venue instrument; undefined for an instrument nobody subscribed to. */
  unified(venue: string): string | undefined {
    return this.byVenue.get(venue)
  }
}
