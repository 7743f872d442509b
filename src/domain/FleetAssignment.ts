import { createHash } from "node:crypto"

/** How much a member wants a symbol: a stable, well-mixed score, the same on every member. */
const score = (member: string, key: string): number =>
  createHash("md5").update(`${member}\u0000${key}`).digest().readUInt32BE(0)

/**
 * Which member of a fleet should own each key (`exchange:symbol`): rendezvous hashing with bounded load. Each key
 * goes to the member that scores it highest among those still under ceil(keys / members), so that every member
 * holds its share within one, and a member joining or leaving moves about its share, not a reshuffle. Every member
 * computes the same answer from the same list of live members, whatever order it read them in.
 */
export const assignKeys = (
  members: ReadonlyArray<string>,
  keys: ReadonlyArray<string>,
): ReadonlyMap<string, string> => {
  const owners = new Map<string, string>()
  if (members.length === 0) return owners
  const sortedMembers = [...new Set(members)].sort()
  const cap = Math.ceil(keys.length / sortedMembers.length)
  const load = new Map(sortedMembers.map((m) => [m, 0]))
  for (const key of [...new Set(keys)].sort()) {
    const ranked = sortedMembers
      .map((member) => ({ member, score: score(member, key) }))
      .sort((a, b) => b.score - a.score || (a.member < b.member ? -1 : 1))
    const owner = ranked.find((r) => load.get(r.member)! < cap)!.member
    load.set(owner, load.get(owner)! + 1)
    owners.set(key, owner)
  }
  return owners
}
