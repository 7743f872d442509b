import type { Candle } from "../schema/Candle.js"
import type { ExchangeId, Quote, Trade } from "../schema/Market.js"
import { type AggregatorOptions, CandleAggregator, type TradeOutcome } from "./CandleAggregator.js"
import { type EnrichedTrade, enrich } from "./Enrichment.js"
import { checkTrade, isPriceJump, makeSlot, type TradeRejection } from "./TradeCheck.js"

export interface PipelineOptions extends AggregatorOptions {
  /** How far a trade's exchange time may lie ahead of our clock before it is refused. */
  readonly futureToleranceMs: number
}

/** Counters since the last `takeStats`, kept as plain numbers so the hot path never touches a metric. */
export interface PipelineStats {
  accepted: number
  late: number
  duplicate: number
  tooLate: number
  jumps: number
  rejected: Partial<Record<TradeRejection, number>>
}

const emptyStats = (): PipelineStats => ({ accepted: 0, late: 0, duplicate: 0, tooLate: 0, jumps: 0, rejected: {} })

/**
 * Everything that happens to one exchange+symbol's trades and quotes: validation, price-jump flagging,
 * enrichment into ticks and candle aggregation. Pure and synchronous; the aggregator actor and the benchmark
 * both drive this same code.
 */
export class SymbolPipeline {
  readonly aggregator: CandleAggregator
  private quote: Quote | undefined
  private lastPrice: number | undefined
  private stats = emptyStats()
  private readonly slot = makeSlot()
  /** What became of the last trade handed to `onTrade`. */
  lastOutcome: TradeOutcome | "rejected" = "accepted"

  constructor(
    exchange: ExchangeId,
    symbol: string,
    private readonly options: PipelineOptions,
  ) {
    this.aggregator = new CandleAggregator(exchange, symbol, options)
  }

  onQuote(quote: Quote): void {
    this.quote = quote
  }

  /** Returns the enriched trade for one that counted, undefined for one refused, duplicated or too late. */
  onTrade(trade: Trade, now: number): EnrichedTrade | undefined {
    const rejection = checkTrade(trade, now, this.options.futureToleranceMs, this.slot)
    if (rejection !== undefined) {
      this.stats.rejected[rejection] = (this.stats.rejected[rejection] ?? 0) + 1
      this.lastOutcome = "rejected"
      return undefined
    }
    const outcome: TradeOutcome = this.aggregator.addTrade(this.slot)
    this.lastOutcome = outcome
    this.stats[outcome]++
    if (outcome !== "accepted" && outcome !== "late") return undefined
    if (isPriceJump(this.lastPrice, trade.price)) this.stats.jumps++
    this.lastPrice = trade.price
    return enrich(trade, this.quote)
  }

  advance(watermark: number, out: Array<Candle>): void {
    this.aggregator.advance(watermark, out)
  }

  takeStats(): PipelineStats {
    const s = this.stats
    this.stats = emptyStats()
    return s
  }
}
