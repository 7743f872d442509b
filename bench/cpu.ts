/**
 * Where a machine's cores go during a benchmark step: CPU time per process group (the daemon, the replay exchange,
 * each service), read from /proc at the step's start and end. On two shared cores a sink's speed is bounded as
 * much by its service's CPU as by the daemon's, and only this split tells the two apart.
 */
import { readdirSync, readFileSync } from "node:fs"

/** Clock ticks per second of /proc's utime and stime (USER_HZ): 100 on every Linux this runs on. */
const HZ = 100

type Group = "daemon" | "replay" | "rabbitmq" | "postgres" | "influxd" | "influx proxy" | "bench" | "other"

export interface CpuSnapshot {
  readonly at: number
  /** Ticks per process, keyed by pid and start time (a reused pid is another process). */
  readonly ticks: ReadonlyMap<string, { readonly group: Group; readonly ticks: number }>
  /** Busy ticks of the whole machine (every core, all but idle and iowait). */
  readonly machineBusy: number
}

const groupOf = (pid: string, comm: string, cmdline: string): Group => {
  if (Number(pid) === process.pid) return "bench"
  if (cmdline.includes("dist/main.js")) return "daemon"
  if (cmdline.includes("dist/replay.js")) return "replay"
  if (comm === "beam.smp" || comm.startsWith("erl_") || comm === "epmd") return "rabbitmq"
  if (comm === "postgres") return "postgres"
  if (comm === "influxd") return "influxd"
  if (cmdline.includes("influx.ts")) return "influx proxy"
  return "other"
}

export const cpuSnapshot = (): CpuSnapshot => {
  const ticks = new Map<string, { group: Group; ticks: number }>()
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      // The command name is in parentheses and may hold spaces; the numeric fields follow its closing one.
      const close = stat.lastIndexOf(")")
      const comm = stat.slice(stat.indexOf("(") + 1, close)
      const fields = stat.slice(close + 2).split(" ")
      // Fields 14 and 15 of proc(5) (utime, stime), 22 (starttime); `fields` starts at field 3.
      const used = Number(fields[11]) + Number(fields[12])
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")
      ticks.set(`${pid}@${fields[19]}`, { group: groupOf(pid, comm, cmdline), ticks: used })
    } catch {
      // The process ended while it was read.
    }
  }
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
  const machineBusy = cpu.reduce((a, b) => a + b, 0) - cpu[3]! - cpu[4]!
  return { at: Date.now(), ticks, machineBusy }
}

/** Cores used per group between two snapshots (1.0 = one core busy throughout), busiest first, and the machine's. */
export const coresUsed = (from: CpuSnapshot, to: CpuSnapshot): string => {
  const seconds = Math.max(0.001, (to.at - from.at) / 1_000)
  const groups = new Map<Group, number>()
  for (const [key, now] of to.ticks) {
    const before = from.ticks.get(key)?.ticks ?? 0
    groups.set(now.group, (groups.get(now.group) ?? 0) + (now.ticks - before))
  }
  const parts = [...groups]
    .filter(([, t]) => t > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([g, t]) => `${g} ${(t / HZ / seconds).toFixed(2)}`)
  return `cores used: machine ${((to.machineBusy - from.machineBusy) / HZ / seconds).toFixed(2)} = ${parts.join(", ")}`
}
