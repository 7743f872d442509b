import { Context, type Effect } from "effect"

/**
 * What `/api/status` answers: the feeds, their symbols, components, sinks, dead letters and open alerts. HTTP reads
 * it through this tag so that it depends on no actor; `actors/Status.ts` builds it from them.
 */
export class StatusView extends Context.Tag("ingestd/StatusView")<
  StatusView,
  { readonly status: Effect.Effect<Record<string, unknown>> }
>() {}
