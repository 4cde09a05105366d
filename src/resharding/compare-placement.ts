import type { PlacementReport, SlotRange } from './placement-report.js'
import { placementReportFrom } from './placement-shape.js'

/** A table's slot range whose rows differ between two reports (no rows on one side: 0 and checksum `00000000`). */
export interface PlacementDifference {
  table: string
  first: number
  last: number
  before: { rows: number; checksum: string }
  after: { rows: number; checksum: string }
}

/** What {@link comparePlacementReports} found. */
export interface PlacementComparison {
  /** The reports can be compared (`problems` is empty) and hold the same rows and checksums in every table and slot range. */
  equal: boolean
  /** Why the comparison cannot be trusted: a report incomplete or not comparable, another range size, a table only one of them has. */
  problems: string[]
  /** The slot ranges that differ, by table and first slot. */
  differences: PlacementDifference[]
}

const NONE = { rows: 0, checksum: '00000000' }

/**
 * Compares two reports of `verifyPlacement()` (before a job and after it was
 * reversed, or two runs of the same job), table by table and slot range by slot
 * range. Pure: reads nothing but its arguments, which may come straight from
 * `JSON.parse` (a malformed one is a ConfigError naming the field).
 *
 * ```ts
 * const { equal, problems, differences } = comparePlacementReports(before, after)
 * for (const d of differences) console.log(`${d.table} slots ${d.first}-${d.last}: ${d.before.rows} → ${d.after.rows} rows`)
 * ```
 */
export function comparePlacementReports(before: PlacementReport, after: PlacementReport): PlacementComparison {
  const sides = { before: placementReportFrom(before, 'before'), after: placementReportFrom(after, 'after') }
  const problems: string[] = []
  for (const [side, report] of Object.entries(sides)) {
    if (!report.comparable) problems.push(`the report ${side} is not comparable: ${report.reason ?? (report.complete ? 'no reason given' : 'incomplete')}`)
  }
  if (sides.before.slotsPerBucket !== sides.after.slotsPerBucket) {
    problems.push(`the reports count slots in ranges of ${sides.before.slotsPerBucket} and ${sides.after.slotsPerBucket}`)
    return { equal: false, problems, differences: [] }
  }
  const differences: PlacementDifference[] = []
  const afterTables = new Map(sides.after.tables.map((t) => [t.table, t]))
  for (const table of sides.before.tables) {
    const other = afterTables.get(table.table)
    afterTables.delete(table.table)
    if (other === undefined) {
      problems.push(`table ${table.table} is only in the report before`)
      continue
    }
    differences.push(...rangeDifferences(table.table, table.buckets, other.buckets))
  }
  for (const table of afterTables.keys()) problems.push(`table ${table} is only in the report after`)
  return { equal: problems.length === 0 && differences.length === 0, problems, differences }
}

function rangeDifferences(table: string, before: SlotRange[], after: SlotRange[]): PlacementDifference[] {
  const then = new Map(before.map((b) => [b.first, b]))
  const now = new Map(after.map((b) => [b.first, b]))
  const firsts = [...new Set([...then.keys(), ...now.keys()])].sort((a, b) => a - b)
  const differences: PlacementDifference[] = []
  for (const first of firsts) {
    const b = then.get(first)
    const a = now.get(first)
    if (b !== undefined && a !== undefined && b.rows === a.rows && b.checksum === a.checksum) continue
    differences.push({
      table,
      first,
      last: (b ?? a)!.last,
      before: b === undefined ? NONE : { rows: b.rows, checksum: b.checksum },
      after: a === undefined ? NONE : { rows: a.rows, checksum: a.checksum },
    })
  }
  return differences
}
