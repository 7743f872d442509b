import { createHash } from "node:crypto"

/** How much a member wants a symbol: a stable, well-mixed score, the same on every member. */
const score = (member: string, key: string): number =>
  createHash("md5").update(`${member}\u0000${key}`).digest().readUInt32BE(0)

/**
 * Which member of a fleet should own each key (`exchange:symbol`): rendezvous hashing with bounded load. Each key
 * goes to the member that scores it highest among those with room left (each takes floor(keys / members), the
 * first few to get there one more), so that every member holds its share within one, and a member joining or
 * leaving moves about its share, not a reshuffle. Every member computes the same answer from the same list of live
 * members, whatever order it read them in.
 */
export const assignKeys = (
  members: ReadonlyArray<string>,
  keys: ReadonlyArray<string>,
): ReadonlyMap<string, string> => {
  const owners = new Map<string, string>()
  if (members.length === 0) return owners
  const sortedMembers = [...new Set(members)].sort()
  const unique = [...new Set(keys)].sort()
  // Every member takes `base`; `extra` of them, the first to get there, one more.
  const base = Math.floor(unique.length / sortedMembers.length)
  let extra = unique.length % sortedMembers.length
  const load = new Map(sortedMembers.map((m) => [m, 0]))
  const room = (member: string) => load.get(member)! < base || (load.get(member) === base && extra > 0)
  for (const key of unique) {
    const ranked = sortedMembers
      .map((member) => ({ member, score: score(member, key) }))
      .sort((a, b) => b.score - a.score || (a.member < b.member ? -1 : 1))
    const owner = ranked.find((r) => room(r.member))!.member
    if (load.get(owner) === base) extra--
    load.set(owner, load.get(owner)! + 1)
    owners.set(key, owner)
  }
  return owners
}
