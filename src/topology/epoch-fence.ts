import type { Knex } from 'knex'
/**
 * The fence row of one shard, as an epoch change reads and writes it.
 *
 * ```ts
 * const row: FenceRow = { epoch: 7, logShardId: 'pg-0' }
 * ```
 */
export interface FenceRow {
  epoch: number
  logShardId: string
}

/** The fence of one shard held exclusively by an epoch change: no branch passes it until released. */
export interface HeldFence {
  /** Raises the shard's epoch to `epoch` (never lowers it) and commits, which releases the fence. */
  commit(epoch: number, logShardId: string): Promise<void>
  /** Releases the fence without changing it. */
  release(): Promise<void>
}

/** Why a fence could not be taken in time, in words a person can act on. */
export interface FenceBlocked {
  blockers: string[]
}

/**
 * What an epoch change needs from one shard; one implementation per dialect in
 * `adapters/<dialect>/`, made by `epochFenceOf` in `adapters/index.ts`.
 */
export interface EpochFence {
  readonly shardId: string
  /** The shard's fence row, or undefined when it has none (never told an epoch). */
  read(): Promise<FenceRow | undefined>
  /** Inserts the fence row at `epoch` unless the shard has one; resolves with the row that stands. */
  bootstrap(epoch: number, logShardId: string): Promise<FenceRow>
  /**
   * Takes the fence exclusively, waiting at most `waitMs` for branches that hold
   * it; on a dialect whose shared lock ends at PREPARE, also waits (within the same
   * bound) until no prepared branch of ours is left on the shard.
   */
  lock(waitMs: number): Promise<HeldFence | FenceBlocked>
  /**
   * The same exclusive hold, taken inside a branch of a shardtx transaction (`branch`
   * is the branch's knex), so that it is released by that transaction's commit or
   * rollback, and raising the fence commits atomically with what else it writes (a
   * resharding batch). Resolves with the blockers when it could not be taken in time;
   * the branch may then be unusable (the caller rolls the transaction back).
   * `statementMs` bounds the branch's later lock waits (PostgreSQL's lock_timeout).
   */
  holdInBranch(branch: Knex, waitMs: number, statementMs: number): Promise<FenceBlocked | undefined>
  /** Raises the fence to `epoch` (never lowers it) inside the branch that holds it. */
  raiseInBranch(branch: Knex, epoch: number, logShardId: string): Promise<void>
}

export function isHeld(result: HeldFence | FenceBlocked): result is HeldFence {
  return 'commit' in result
}
