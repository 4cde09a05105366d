import { SLOT_COUNT, xxh32String } from '../sharding/index.js'

/** Slots per range of the per-slot counts: 1,024 ranges of 1,024 slots over the 2^20 slots. */
export const SLOTS_PER_BUCKET = 1024
export const BUCKET_COUNT = SLOT_COUNT / SLOTS_PER_BUCKET

/** Rows of one table on one shard that the topology of their page routes to another shard. */
export interface MisplacedRows {
  table: string
  shardId: string
  owner: string
  rows: number
  /** The first such key read, as text. */
  example: string
}

/** The rows of one table whose slot is in `[first, last]`: how many, and an order-free checksum (8 hex digits). */
export interface SlotRange {
  first: number
  last: number
  rows: number
  checksum: string
}

/** One declared sharded table: its rows, their checksum, and the same per slot range (the ranges with rows only). */
export interface TablePlacement {
  table: string
  rows: number
  checksum: string
  buckets: SlotRange[]
}

/**
 * What `verify` found: rows on a shard that does not own their key, and per table
 * a row count and an order-free checksum of every row with its slot, in all and
 * per range of {@link PlacementReport.slotsPerBucket} slots, to compare before a
 * job and after it was reversed or repeated (`comparePlacementReports`). Plain
 * JSON: `JSON.stringify` it to keep it, `JSON.parse` gives it back.
 *
 * ```ts
 * const report = await cluster.verifyPlacement()
 * if (report.misplaced.length > 0) console.error(report.misplaced)
 * ```
 */
export interface PlacementReport {
  /** The topology epoch of the last page read (each page routes by the epoch of its own transaction). */
  epoch: number
  /** Every epoch a page was read at, ascending; more than one makes the counts not comparable. */
  epochs: number[]
  /** Every row of every declared sharded table on every shard was read; false when a signal stopped it (see `cursor`). */
  complete: boolean
  /** Whether the counts and checksums mean what they say: the report is complete and the topology did not change while it was read. */
  comparable: boolean
  /** Why not, when `comparable` is false. */
  reason?: string
  /** Pages read, each one fenced transaction on one shard. */
  pages: number
  slotsPerBucket: number
  misplaced: MisplacedRows[]
  tables: TablePlacement[]
  /** Where an incomplete report stopped, with its counts so far: `verifyPlacement({ resume: report.cursor })` goes on from there. */
  cursor?: VerifyCursor
}

/**
 * A key column's value as JSON keeps it: dates, byte strings and bigints tagged,
 * so the next page's `>` compares with the value the driver read.
 */
export type CursorValue = string | number | boolean | null | { date: string } | { bytes: string } | { bigint: string }

/** What a cursor was taken over; `resume` refuses a cursor of another cluster, table set or shard set. */
export interface VerifyScope {
  logShardId: string
  logTable: string
  /** The shards read, sorted: the shards this process connects to. */
  shards: string[]
  tables: { name: string; keyColumns: string[] }[]
  slotsPerBucket: number
}

/** The counts so far, compact: per table the ranges with rows as `[range index, rows, checksum as uint32]`. */
export interface TallyState {
  pages: number
  epochs: number[]
  misplaced: MisplacedRows[]
  tables: { table: string; buckets: [number, number, number][] }[]
}

/** Where verify goes on: the next page is the rows of `table` on `shardId` with a key after `after` (null: from the start). */
export interface VerifyCursor {
  version: 1
  scope: VerifyScope
  table: string
  shardId: string
  after: CursorValue[] | null
  tally: TallyState
}

interface TableTally {
  rows: Float64Array
  sums: Uint32Array
}

/** The counts of a verify run, page by page; restored from a cursor's {@link TallyState} to resume. */
export class PlacementTally {
  pages = 0
  readonly epochs = new Set<number>()
  readonly #tables = new Map<string, TableTally>()
  readonly #misplaced = new Map<string, MisplacedRows>()

  constructor(tables: string[], state?: TallyState) {
    for (const table of tables) this.#tables.set(table, { rows: new Float64Array(BUCKET_COUNT), sums: new Uint32Array(BUCKET_COUNT) })
    if (state === undefined) return
    this.pages = state.pages
    for (const epoch of state.epochs) this.epochs.add(epoch)
    for (const m of state.misplaced) this.#misplaced.set(misplacedKey(m.table, m.shardId, m.owner), { ...m })
    for (const { table, buckets } of state.tables) {
      const tally = this.#tables.get(table)!
      for (const [bucket, rows, sum] of buckets) {
        tally.rows[bucket] = rows
        tally.sums[bucket] = sum
      }
    }
  }

  /** One row of `table` in `slot`, as the canonical text of its columns. */
  count(table: string, slot: number, row: string): void {
    const tally = this.#tables.get(table)!
    const bucket = Math.floor(slot / SLOTS_PER_BUCKET)
    tally.rows[bucket]!++
    // A Uint32Array wraps: the sum is modulo 2^32, whatever the order of the rows.
    tally.sums[bucket]! += xxh32String(`${slot}\u0000${row}`, 0)
  }

  misplace(table: string, shardId: string, owner: string, example: string): void {
    const key = misplacedKey(table, shardId, owner)
    const entry = this.#misplaced.get(key)
    if (entry === undefined) this.#misplaced.set(key, { table, shardId, owner, rows: 1, example })
    else entry.rows++
  }

  state(): TallyState {
    const tables = [...this.#tables].map(([table, tally]) => ({
      table,
      buckets: nonEmpty(tally).map((b): [number, number, number] => [b, tally.rows[b]!, tally.sums[b]!]),
    }))
    return { pages: this.pages, epochs: this.#sortedEpochs(), misplaced: this.misplaced(), tables }
  }

  misplaced(): MisplacedRows[] {
    return [...this.#misplaced.values()].map((m) => ({ ...m }))
  }

  tables(): TablePlacement[] {
    return [...this.#tables].map(([table, tally]) => {
      let rows = 0
      let sum = 0
      const buckets = nonEmpty(tally).map((b) => {
        rows += tally.rows[b]!
        sum = (sum + tally.sums[b]!) >>> 0
        return { first: b * SLOTS_PER_BUCKET, last: (b + 1) * SLOTS_PER_BUCKET - 1, rows: tally.rows[b]!, checksum: hex(tally.sums[b]!) }
      })
      return { table, rows, checksum: hex(sum), buckets }
    })
  }

  /**
   * The report of these counts: complete when there is no `cursor` left. `epochNow`
   * stands for the epoch when no page was read yet.
   */
  report(cursor: VerifyCursor | undefined, epochNow: number): PlacementReport {
    const epochs = this.#sortedEpochs()
    const reason =
      cursor !== undefined
        ? `incomplete: stopped before ${cursor.table} on ${cursor.shardId}; resume it with its cursor`
        : epochs.length > 1
          ? `the topology changed while verify read (epochs ${epochs.join(', ')}): rows a job moved between pages may be counted twice or not at all; ` +
            'placement was still checked page by page. Verify again while no job moves rows'
          : undefined
    return {
      epoch: epochs.at(-1) ?? epochNow,
      epochs,
      complete: cursor === undefined,
      comparable: reason === undefined,
      ...(reason === undefined ? {} : { reason }),
      pages: this.pages,
      slotsPerBucket: SLOTS_PER_BUCKET,
      misplaced: this.misplaced(),
      tables: this.tables(),
      ...(cursor === undefined ? {} : { cursor }),
    }
  }

  #sortedEpochs(): number[] {
    return [...this.epochs].sort((a, b) => a - b)
  }
}

function misplacedKey(table: string, shardId: string, owner: string): string {
  return JSON.stringify([table, shardId, owner])
}

function nonEmpty(tally: TableTally): number[] {
  const found: number[] = []
  for (let b = 0; b < BUCKET_COUNT; b++) if (tally.rows[b]! > 0) found.push(b)
  return found
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0')
}
