import { describe, expect, it } from 'vitest'
import { comparePlacementReports, type PlacementReport } from '../../src/index.js'
import { PlacementTally } from '../../src/resharding/placement-report.js'

/** A complete report of `rows` ([table, slot, row text]) read at `epochs`. */
function reportOf(rows: [string, number, string][], epochs = [3], tables = ['accounts', 'orders']): PlacementReport {
  const tally = new PlacementTally(tables)
  for (const [table, slot, row] of rows) tally.count(table, slot, row)
  for (const epoch of epochs) tally.epochs.add(epoch)
  tally.pages = rows.length
  return tally.report(undefined, 0)
}

const rows: [string, number, string][] = [
  ['accounts', 5, 'id=1'],
  ['accounts', 1023, 'id=2'],
  ['accounts', 1024, 'id=3'],
  ['orders', 700_000, 'id=9'],
]

describe('comparePlacementReports', () => {
  it('finds equal reports equal, whatever the order the rows were counted in and through JSON', () => {
    const before = reportOf(rows)
    const after = JSON.parse(JSON.stringify(reportOf([...rows].reverse()))) as PlacementReport
    expect(comparePlacementReports(before, after)).toEqual({ equal: true, problems: [], differences: [] })
    expect(before.tables[0]).toMatchObject({ table: 'accounts', rows: 3 })
    expect(before.tables[0]!.buckets.map((b) => [b.first, b.last, b.rows])).toEqual([
      [0, 1023, 2],
      [1024, 2047, 1],
    ])
  })

  it('names the slot ranges that differ: a changed row, a row gone, a row only after', () => {
    const changed = reportOf([['accounts', 5, 'id=1 balance=2'], rows[1]!, ['orders', 700_000, 'id=9'], ['orders', 3, 'id=10']])
    const { equal, problems, differences } = comparePlacementReports(reportOf(rows), changed)
    expect([equal, problems]).toEqual([false, []])
    expect(differences.map((d) => [d.table, d.first, d.last, d.before.rows, d.after.rows])).toEqual([
      ['accounts', 0, 1023, 2, 2],
      ['accounts', 1024, 2047, 1, 0],
      ['orders', 0, 1023, 0, 1],
    ])
    expect(differences[1]!.after).toEqual({ rows: 0, checksum: '00000000' })
  })

  it('says why reports cannot be compared: not comparable, incomplete, another table set', () => {
    const moved = reportOf(rows, [3, 5])
    expect(moved).toMatchObject({ comparable: false, reason: expect.stringMatching(/^the topology changed while verify read \(epochs 3, 5\)/) })
    expect(comparePlacementReports(reportOf(rows), moved)).toMatchObject({
      equal: false,
      problems: [expect.stringMatching(/^the report after is not comparable: the topology changed/)],
      differences: [],
    })
    const tally = new PlacementTally(['accounts'])
    const cursor = { version: 1 as const, scope: { logShardId: 'pg-0', logTable: 'log', shards: ['pg-0'], tables: [], slotsPerBucket: 1024 }, table: 'accounts', shardId: 'pg-0', after: null, tally: tally.state() }
    const partial = tally.report(cursor, 3)
    expect(partial).toMatchObject({ complete: false, comparable: false, epoch: 3, epochs: [] })
    expect(comparePlacementReports(partial, reportOf(rows.slice(0, 3), [3], ['accounts'])).problems).toEqual([
      'the report before is not comparable: incomplete: stopped before accounts on pg-0; resume it with its cursor',
    ])
    expect(comparePlacementReports(reportOf(rows), reportOf(rows.slice(0, 3), [3], ['accounts'])).problems).toEqual(['table orders is only in the report before'])
  })

  it('takes the CLI document { placement } and refuses what is no report, naming the field', () => {
    const report = reportOf(rows)
    expect(comparePlacementReports({ placement: report } as never, report).equal).toBe(true)
    expect(() => comparePlacementReports(report, { ...report, complete: 'yes' } as never)).toThrow(/^after\.complete: must be true or false$/)
    expect(() => comparePlacementReports({ placement: { ...report, tables: 3 } } as never, report)).toThrow(/^before placement\.tables: must be an array$/)
    expect(() => comparePlacementReports(report, { ...report, slotsPerBucket: 0 })).toThrow(/^after\.slotsPerBucket: must be an integer ≥ 1/)
    expect(comparePlacementReports(report, { ...report, slotsPerBucket: 2048 }).problems).toEqual(['the reports count slots in ranges of 1024 and 2048'])
  })
})
