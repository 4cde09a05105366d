import type { TopologyShard } from './topology.js'

/**
 * What differs between two routing sets, shard by shard.
 *
 * ```ts
 * diffTopology(stored, configured) // { added: ['pg-2'], removed: [], weights: [], dialects: [] }
 * ```
 */
export interface TopologyDiff {
  /** In `next` only. */
  added: string[]
  /** In `current` only. */
  removed: string[]
  weights: { id: string; from: number; to: number }[]
  dialects: { id: string; from: string; to: string }[]
}

export function diffTopology(current: readonly TopologyShard[], next: readonly TopologyShard[]): TopologyDiff {
  const before = new Map(current.map((s) => [s.id, s]))
  const after = new Map(next.map((s) => [s.id, s]))
  const diff: TopologyDiff = { added: [], removed: [], weights: [], dialects: [] }
  for (const [id, shard] of after) {
    const old = before.get(id)
    if (old === undefined) diff.added.push(id)
    else {
      if (old.weight !== shard.weight) diff.weights.push({ id, from: old.weight, to: shard.weight })
      if (old.dialect !== shard.dialect) diff.dialects.push({ id, from: old.dialect, to: shard.dialect })
    }
  }
  for (const id of before.keys()) if (!after.has(id)) diff.removed.push(id)
  return diff
}

export function isSameTopology(diff: TopologyDiff): boolean {
  return diff.added.length + diff.removed.length + diff.weights.length + diff.dialects.length === 0
}

/**
 * The difference in words, from the point of view of `next` against `current`.
 *
 * ```ts
 * describeDiff(diff, 'configured', 'stored') // 'configured adds pg-2; configured gives pg-0 weight 2 (stored: 1)'
 * ```
 */
export function describeDiff(diff: TopologyDiff, next: string, current: string): string {
  const parts: string[] = []
  if (diff.added.length > 0) parts.push(`${next} adds ${diff.added.join(', ')} (not in ${current})`)
  if (diff.removed.length > 0) parts.push(`${next} lacks ${diff.removed.join(', ')} (in ${current})`)
  for (const w of diff.weights) parts.push(`${next} gives ${w.id} weight ${w.to} (${current}: ${w.from})`)
  for (const d of diff.dialects) parts.push(`${next} says ${d.id} is ${d.to} (${current}: ${d.from})`)
  return parts.join('; ')
}
