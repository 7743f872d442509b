/** Building blocks of hostile frames, shared by the decoders' property tests and the daemon-level fuzz test. */

/** Every path to a value inside a parsed frame, the root's own (empty) path first. */
export const pathsOf = (v: unknown, at: ReadonlyArray<string | number> = []): Array<ReadonlyArray<string | number>> =>
  typeof v !== "object" || v === null
    ? [at]
    : [at, ...Object.entries(v).flatMap(([k, x]) => pathsOf(x, [...at, Array.isArray(v) ? Number(k) : k]))]

/** The frame with the value at `path` replaced (`undefined`: the field dropped); the root's path gives the value. */
export const replacedAt = (frame: string, path: ReadonlyArray<string | number>, value: unknown): string => {
  if (path.length === 0) return JSON.stringify(value) ?? ""
  const root = JSON.parse(frame) as Record<string | number, unknown>
  let o = root
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>
  if (value === undefined) delete o[path.at(-1)!]
  else o[path.at(-1)!] = value
  return JSON.stringify(root)
}

/** The frame with the characters at the given positions replaced by the given UTF-16 code units. */
export const flipped = (frame: string, flips: ReadonlyArray<readonly [number, number]>): string => {
  const chars = [...frame]
  for (const [i, c] of flips) chars[i % chars.length] = String.fromCharCode(c)
  return chars.join("")
}
