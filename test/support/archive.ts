import { createHash } from "node:crypto"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import yazl from "yazl"
import { type RefTrade, referenceCandles } from "./reference.js"

/** One aggregate trade as Binance's archive lists it: ids `f..l` are the raw trades it stands for. */
export interface ArchiveTrade extends RefTrade {
  readonly symbol: string
}

export interface DayFiles {
  /** `YYYY-MM-DD`. */
  readonly day: string
  /** Newer files: a header row and microsecond times. */
  readonly newer: boolean
}

const zipOf = (name: string, text: string) =>
  new Promise<Buffer>((resolve, reject) => {
    const zip = new yazl.ZipFile()
    zip.addBuffer(Buffer.from(text), name)
    zip.end()
    const chunks: Array<Buffer> = []
    zip.outputStream.on("data", (c: Buffer) => chunks.push(c))
    zip.outputStream.on("end", () => resolve(Buffer.concat(chunks)))
    zip.outputStream.on("error", reject)
  })

/** Writes `root/path` and its `.CHECKSUM` (`<sha256>  <file name>`), as data.binance.vision publishes them. */
const publish = (root: string, path: string, zip: Buffer) => {
  const file = join(root, path)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, zip)
  const name = path.split("/").at(-1)!
  writeFileSync(`${file}.CHECKSUM`, `${createHash("sha256").update(zip).digest("hex")}  ${name}\n`)
}

const time = (ms: number, newer: boolean) => (newer ? `${ms}${String(ms % 7).padStart(3, "0")}` : String(ms))

/**
 * A day of one symbol in Binance's public-data layout: its aggTrades (`a,p,q,f,l,T,m,M`) and its 1m klines (12
 * columns), the klines computed independently (`referenceCandles`) from the same trades. Newer files carry a
 * header row and microsecond times (the last three digits are not zero, as in Binance's files).
 */
export const writeArchiveDay = async (
  root: string,
  instrument: string,
  files: DayFiles,
  trades: ReadonlyArray<ArchiveTrade>,
  /** Alters the exchange's klines, e.g. to make one disagree with the trades. */
  alter: (klines: Array<Array<string | number>>) => void = () => {},
) => {
  const rows = trades.map(
    (t) =>
      `${t.id},${t.price},${t.qty},${t.id * 10},${t.id * 10 + t.count - 1},${time(t.ts, files.newer)},${t.takerBuy ? "false" : "true"},true`,
  )
  const aggHeader =
    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match"
  const aggName = `${instrument}-aggTrades-${files.day}`
  publish(
    root,
    `spot/daily/aggTrades/${instrument}/${aggName}.zip`,
    await zipOf(`${aggName}.csv`, [...(files.newer ? [aggHeader] : []), ...rows].join("\n") + "\n"),
  )
  const columns = klineRows(trades, files.newer)
  alter(columns)
  const klines = columns.map((k) => k.join(","))
  const klineHeader =
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
  const klineName = `${instrument}-1m-${files.day}`
  publish(
    root,
    `spot/daily/klines/${instrument}/1m/${klineName}.zip`,
    await zipOf(`${klineName}.csv`, [...(files.newer ? [klineHeader] : []), ...klines].join("\n") + "\n"),
  )
}

/** Binance's 12 kline columns of the minutes `trades` fall in, computed independently (`referenceCandles`). */
export const klineRows = (trades: ReadonlyArray<ArchiveTrade>, newer = false): Array<Array<string | number>> =>
  [...referenceCandles(trades, 60_000).values()]
    .sort((a, b) => a.openTime - b.openTime)
    .map((k) => [
      time(k.openTime, newer),
      k.open,
      k.high,
      k.low,
      k.close,
      k.volume,
      time(k.openTime + 59_999, newer),
      k.quoteVolume,
      k.trades,
      k.takerBuyBase,
      k.takerBuyQuote,
      "0",
    ])

/** Flips one byte in the middle of a file, as a torn download would leave it. */
export const corrupt = (file: string) => {
  const bytes = readFileSync(file)
  bytes[Math.floor(bytes.length / 2)]! ^= 0xff
  writeFileSync(file, bytes)
}
