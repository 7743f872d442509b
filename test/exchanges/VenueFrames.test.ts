import { describe, expect, it } from "vitest"
import { SymbolMap } from "../../src/domain/SymbolMap.js"
import { BybitVenue } from "../../src/exchanges/bybit/Venue.js"
import { CoinbaseVenue } from "../../src/exchanges/coinbase/Venue.js"
import { KrakenVenue } from "../../src/exchanges/kraken/Venue.js"
import { OkxVenue, okxInstrument, okxUnified } from "../../src/exchanges/okx/Venue.js"
import type { Decoded, Venue } from "../../src/exchanges/Venue.js"
import type { Quote, Trade } from "../../src/schema/Market.js"
import { fixtureLines } from "../support/fixtures.js"

const decoderFor = (venue: Venue, symbols: ReadonlyArray<string>) =>
  venue.decoder(new SymbolMap(symbols, venue.instrument, venue.aliases))

/** Trades and quotes of a decoded frame, Batch unpacked. */
const items = (d: Decoded): Array<Trade | Quote> =>
  d._tag === "Batch" ? [...d.items] : d._tag === "Trade" || d._tag === "Quote" ? [d] : []
const trades = (ds: ReadonlyArray<Decoded>) => ds.flatMap(items).filter((x): x is Trade => x._tag === "Trade")
const quotes = (ds: ReadonlyArray<Decoded>) => ds.flatMap(items).filter((x): x is Quote => x._tag === "Quote")

describe("OKX v5 frames", () => {
  const instIds = new Set<string>()
  for (const f of ["okx/trades.jsonl", "okx/tickers.jsonl", "okx/trades.tardis.jsonl", "okx/tickers.tardis.jsonl"])
    for (const l of fixtureLines(f)) instIds.add((JSON.parse(l) as { arg: { instId: string } }).arg.instId)

  it("maps every instrument (spot, swap, future, option) to a unified symbol and back", () => {
    expect(instIds.size).toBe(28)
    for (const id of instIds) expect(okxInstrument(okxUnified(id))).toBe(id)
    expect(okxUnified("XMR-USDT-SWAP")).toBe("XMR/USDT:USDT")
    expect(okxUnified("BTC-USD-210924-66000-C")).toBe("BTC/USD:BTC-210924-66000-C")
  })

  const decode = decoderFor(OkxVenue, [...instIds].map(okxUnified))

  it("reads all 129 trades of the recording, strings everywhere, exact text kept", () => {
    const decoded = fixtureLines("okx/trades.jsonl").map((l) => decode(l, 1))
    expect(decoded.every((d) => d._tag === "Trade" || d._tag === "Batch")).toBe(true)
    const ts = trades(decoded)
    expect(ts).toHaveLength(129)
    expect(ts[0]).toMatchObject({
      exchange: "okx",
      symbol: "FUN/BTC",
      tradeId: "3435655",
      seq: 3435655,
      priceText: "0.000000454",
      qtyText: "11.83",
      price: 0.000000454,
      side: "sell",
      exchangeTs: 1626995753055,
      count: 1,
    })
    expect(trades(fixtureLines("okx/trades.tardis.jsonl").map((l) => decode(l, 1)))).toHaveLength(4)
  })

  it("reads tickers as quotes, an empty book side as no_book", () => {
    const decoded = fixtureLines("okx/tickers.jsonl").map((l) => decode(l, 1))
    expect(quotes(decoded)).toHaveLength(92)
    expect(decoded.filter((d) => d._tag === "Ignored" && d.reason === "no_book")).toHaveLength(2)
    expect(quotes(fixtureLines("okx/tickers.tardis.jsonl").map((l) => decode(l, 1)))).toHaveLength(3)
  })

  it("classifies every subscription ack as control, and the text pong too", () => {
    const decoded = fixtureLines("okx/control.jsonl").map((l) => decode(l, 1))
    expect(decoded.filter((d) => d._tag === "Control")).toHaveLength(168)
    expect(decode("pong", 1)._tag).toBe("Control")
  })

  it("orders several trades of one frame by id, spans aggregated fills and reads notices", () => {
    const frame = JSON.stringify({
      arg: { channel: "trades", instId: "BTC-USDT" },
      data: [
        {
          instId: "BTC-USDT",
          tradeId: "130639474",
          px: "42219.9",
          sz: "0.12",
          side: "buy",
          ts: "1630048897897",
          count: "3",
        },
        { instId: "BTC-USDT", tradeId: "130639470", px: "42219.8", sz: "0.01", side: "sell", ts: "1630048897896" },
      ],
    })
    const ts = trades([decoderFor(OkxVenue, ["BTC/USDT"])(frame, 1)])
    expect(ts.map((t) => [t.seq, t.count])).toEqual([
      [130639470, 1],
      [130639474, 3],
    ])
    expect(OkxVenue.idSpan!(ts[1]!)).toBe(3)
    const notice =
      '{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade.","connId":"a4d3ae55"}'
    expect(decode(notice, 1)._tag).toBe("Shutdown")
    expect(decode('{"event":"error","code":"60012","msg":"Invalid request","connId":"a4d3ae55"}', 1)).toEqual({
      _tag: "ServerError",
      message: "60012 Invalid request",
    })
  })
})

describe("Kraken v2 frames", () => {
  it("keeps the exact decimals of prices and sizes sent as JSON numbers", () => {
    const decode = decoderFor(KrakenVenue, ["MATIC/USD"])
    const decoded = fixtureLines("kraken/v2_trade.docs.jsonl").map((l) => decode(l, 1))
    const ts = trades(decoded)
    expect(ts).toHaveLength(2)
    expect(ts.map((t) => [t.tradeId, t.seq, t.priceText, t.qtyText, t.side, t.exchangeTs])).toEqual([
      ["4665846", 4665846, "0.5147", "6423.46326", "buy", Date.parse("2023-09-25T07:48:36.925Z")],
      ["4665847", 4665847, "0.5147", "1136.19677815", "buy", Date.parse("2023-09-25T07:49:36.925Z")],
    ])
    // A decimal that a double cannot hold survives as text.
    const exact =
      '{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"sell","price":0.51470000000000001,"qty":12345678.123456789,"ord_type":"market","trade_id":4665848,"timestamp":"2023-09-25T07:50:00.000001Z"}]}'
    expect(trades([decode(exact, 1)])[0]).toMatchObject({
      priceText: "0.51470000000000001",
      qtyText: "12345678.123456789",
    })
  })

  it("reads the ticker as a quote and the legacy XBT name as BTC", () => {
    const ticker = quotes(
      fixtureLines("kraken/v2_ticker.docs.jsonl").map((l) => decoderFor(KrakenVenue, ["ALGO/USD"])(l, 7)),
    )
    expect(ticker).toEqual([
      {
        _tag: "Quote",
        exchange: "kraken",
        symbol: "ALGO/USD",
        bid: 0.10025,
        ask: 0.10036,
        bidQty: 740,
        askQty: 1361.44813783,
        ts: Date.parse("2023-09-25T09:04:31.742Z"),
      },
    ])
    const legacy =
      '{"channel":"trade","type":"update","data":[{"symbol":"XBT/USD","side":"buy","price":27000.1,"qty":0.5,"ord_type":"limit","trade_id":1,"timestamp":"2023-09-25T07:48:36.925533Z"}]}'
    expect(trades([decoderFor(KrakenVenue, ["BTC/USD"])(legacy, 1)])[0]?.symbol).toBe("BTC/USD")
  })

  it("classifies heartbeats, status, acks and pongs as control, refusals as server errors", () => {
    const decode = decoderFor(KrakenVenue, ["BTC/USD"])
    for (const f of [
      '{"channel":"heartbeat"}',
      '{"channel":"status","type":"update","data":[{"version":"2.0.0","system":"online","api_version":"v2","connection_id":12393906104898154338}]}',
      '{"method":"subscribe","result":{"channel":"trade","snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}',
      '{"method":"pong","req_id":101,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}',
    ])
      expect(decode(f, 1)._tag).toBe("Control")
    expect(decode('{"method":"subscribe","error":"Currency pair not supported XYZ/USD","success":false}', 1)._tag).toBe(
      "ServerError",
    )
  })
})

describe("Bybit v5 frames", () => {
  it("reads recorded derivative trades with the taker side and UUID ids (no sequence)", () => {
    const decode = decoderFor(BybitVenue, ["BTC/USD:BTC", "LTC/USDT:USDT"])
    const ts = trades(fixtureLines("bybit/publicTrade.tardis.jsonl").map((l) => decode(l, 1)))
    expect(ts).toHaveLength(4)
    expect(ts[0]).toMatchObject({
      symbol: "BTC/USD:BTC",
      tradeId: "0cbf2330-952d-5d03-a462-4bf826c867af",
      seq: -1,
      priceText: "28560.50",
      qtyText: "5823",
      side: "buy",
      exchangeTs: 1680673823564,
    })
    expect(BybitVenue.idSpan).toBeUndefined()
  })

  it("merges ticker deltas into the last snapshot", () => {
    const decode = decoderFor(BybitVenue, ["BTC/USD:BTC", "BTC/USDT:USDT"])
    const decoded = fixtureLines("bybit/tickers.tardis.jsonl").map((l) => decode(l, 1))
    const qs = quotes(decoded)
    expect(qs.map((q) => [q.symbol, q.bid, q.ask, q.bidQty, q.askQty])).toEqual([
      ["BTC/USD:BTC", 28560, 28560.5, 340549, 70817],
      ["BTC/USD:BTC", 28560, 28560.5, 340549, 70817],
      expect.arrayContaining(["BTC/USDT:USDT"]),
    ])
    // BTCUSDU23 (a dated future) was not subscribed.
    expect(decoded.filter((d) => d._tag === "Ignored" && d.reason === "unsubscribed_symbol")).toHaveLength(2)
    const delta =
      '{"topic":"tickers.BTCUSD","type":"delta","data":{"symbol":"BTCUSD","ask1Price":"28561.00"},"cs":1,"ts":1680673822999}'
    expect(quotes([decode(delta, 1)])[0]).toMatchObject({ bid: 28560, ask: 28561, askQty: 70817, ts: 1680673822999 })
  })

  it("reads the documented spot examples: trades, a ticker without book top, acks and pong", () => {
    const decode = decoderFor(BybitVenue, ["BTC/USDT"])
    // https://bybit-exchange.github.io/docs/v5/websocket/public/trade
    const trade =
      '{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}'
    expect(trades([decode(trade, 1)])).toMatchObject([
      { symbol: "BTC/USDT", priceText: "16578.50", qtyText: "0.001", side: "buy" },
    ])
    // https://bybit-exchange.github.io/docs/v5/websocket/public/ticker (spot)
    const spotTicker =
      '{"topic":"tickers.BTCUSDT","ts":1673853746003,"type":"snapshot","cs":2588407389,"data":{"symbol":"BTCUSDT","lastPrice":"21109.77","highPrice24h":"21426.99","lowPrice24h":"20575","prevPrice24h":"20704.93","volume24h":"6780.866843","turnover24h":"141946527.22907118","price24hPcnt":"0.0196","usdIndexPrice":"21120.2400136"}}'
    expect(decode(spotTicker, 1)).toEqual({ _tag: "Ignored", reason: "no_book" })
    expect(
      decode('{"success":true,"ret_msg":"","conn_id":"cejreaspqfh3sjdnldmg-p","req_id":"1","op":"subscribe"}', 1)._tag,
    ).toBe("Control")
    expect(
      decode('{"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","op":"ping"}', 1)._tag,
    ).toBe("Control")
    expect(
      decode('{"success":false,"ret_msg":"error:handler not found","conn_id":"x","req_id":"2","op":"subscribe"}', 1)
        ._tag,
    ).toBe("ServerError")
  })
})

/** Examples from https://docs.cdp.coinbase.com/advanced-trade/docs/ws-channels (no live capture is available). */
describe("Coinbase Advanced Trade frames", () => {
  const decode = decoderFor(CoinbaseVenue, ["ETH/USD", "BTC/USD"])
  const marketTrades = (type: string, ids: ReadonlyArray<number>) =>
    JSON.stringify({
      channel: "market_trades",
      client_id: "",
      timestamp: "2023-02-09T20:19:35.39625135Z",
      sequence_num: 0,
      events: [
        {
          type,
          trades: ids.map((id, i) => ({
            trade_id: String(id),
            product_id: "ETH-USD",
            price: "1260.01",
            size: "0.3",
            side: i % 2 === 0 ? "BUY" : "SELL",
            time: "2019-08-14T20:42:27.265Z",
          })),
        },
      ],
    })

  it("reads several trades per update, newest first, into id order with the taker side", () => {
    const ts = trades([decode(marketTrades("update", [12, 11, 10]), 1)])
    expect(ts.map((t) => [t.tradeId, t.seq, t.side])).toEqual([
      ["10", 10, "sell"],
      ["11", 11, "buy"],
      ["12", 12, "sell"],
    ])
    expect(ts[0]).toMatchObject({
      symbol: "ETH/USD",
      priceText: "1260.01",
      qtyText: "0.3",
      exchangeTs: Date.parse("2019-08-14T20:42:27.265Z"),
    })
  })

  it("reads the subscribe snapshot as trades, so the feed can recognise the ones it has already seen", () => {
    expect(trades([decode(marketTrades("snapshot", [9, 8, 7, 6]), 1)]).map((t) => t.seq)).toEqual([6, 7, 8, 9])
  })

  it("reads tickers as quotes; heartbeats and subscriptions are control; errors are reported", () => {
    const ticker =
      '{"channel":"ticker","client_id":"","timestamp":"2023-02-09T20:30:37.167359596Z","sequence_num":0,"events":[{"type":"snapshot","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"21932.98","volume_24_h":"16038.28770938","low_24_h":"21835.29","high_24_h":"23011.18","low_52_w":"15460","high_52_w":"48240","price_percent_chg_24_h":"-4.15775596190603","best_bid":"21931.98","best_bid_quantity":"0.5","best_ask":"21933.98","best_ask_quantity":"1.2"}]}]}'
    expect(quotes([decode(ticker, 1)])).toEqual([
      {
        _tag: "Quote",
        exchange: "coinbase",
        symbol: "BTC/USD",
        bid: 21931.98,
        ask: 21933.98,
        bidQty: 0.5,
        askQty: 1.2,
        ts: Date.parse("2023-02-09T20:30:37.167Z"),
      },
    ])
    const heartbeat =
      '{"channel":"heartbeats","client_id":"","timestamp":"2023-06-23T20:31:26.122969572Z","sequence_num":0,"events":[{"current_time":"2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105","heartbeat_counter":"3049"}]}'
    expect(decode(heartbeat, 1)._tag).toBe("Control")
    const subscriptions =
      '{"channel":"subscriptions","client_id":"","timestamp":"2023-02-09T20:32:59.206962372Z","sequence_num":1,"events":[{"subscriptions":{"market_trades":["ETH-USD"]}}]}'
    expect(decode(subscriptions, 1)._tag).toBe("Control")
    expect(decode('{"type":"error","message":"Failure to subscribe"}', 1)).toEqual({
      _tag: "ServerError",
      message: "Failure to subscribe",
    })
  })

  it("refuses a trade with a malformed price without throwing", () => {
    const bad = marketTrades("update", [5]).replace('"1260.01"', '"12,60"')
    expect(decode(bad, 1)).toMatchObject({ _tag: "Invalid", reason: "schema" })
    expect(decode("{not json", 1)).toMatchObject({ _tag: "Invalid", reason: "malformed_json" })
  })
})
