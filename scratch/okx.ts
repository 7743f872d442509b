import { readFileSync } from "node:fs"
import { okxUnified, okxInstrument } from "../src/domain/venues/Okx.js"
import { Schema } from "effect"
import { UnifiedSymbol } from "../src/schema/Market.js"
const ids = new Set<string>()
for (const f of ["trades.jsonl","tickers.jsonl","trades.tardis.jsonl","tickers.tardis.jsonl"]) for (const l of readFileSync("/work/shared/fixtures/okx/"+f,"utf8").split("\n").filter(Boolean)) ids.add(JSON.parse(l).arg.instId)
for (const id of ids) { const u = okxUnified(id); if (okxInstrument(u)!==id || !Schema.is(UnifiedSymbol)(u)) console.log("BAD", id, u) }
console.log(ids.size, [...ids].slice(0,12).map(okxUnified))
let n=0; for (const l of readFileSync("/work/shared/fixtures/okx/trades.jsonl","utf8").split("\n").filter(Boolean)) n+=JSON.parse(l).data.length; console.log("okx trades", n)
