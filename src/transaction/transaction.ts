import type { Knex } from 'knex'
import { TransactionTimeoutError } from '../errors.js'
import type { ShardedQuery } from '../sharded-tables/sharded-query.js'

/** Where a transaction is in its life. */
export type TransactionState = 'active' | 'committing' | 'rolling back' | 'finished'

/**
 * @internal What the facade asks of its inside (TransactionContext, in
 * transaction-context.ts, which imports this file, not the other way round).
 */
export interface TransactionInside {
  readonly id: string
  readonly deadline: number
  readonly state: TransactionState
  readonly shards: string[]
  forShard(shardId: string): Knex
  forKey(key: string | number | bigint | Uint8Array): Knex
  table<TRow extends object>(name: string): ShardedQuery<TRow>
  addOutcomeHook(outcome: 'committed' | 'rolled back', hook: () => unknown): void
}

/**
 * One unit of work across shards, handed to the callback of
 * `cluster.transaction()`. Branches open on first use of a shard.
 *
 * ```ts
 * await cluster.transaction(async (tx) => {
 *   await tx.forKey('user:42')('accounts').where({ id: 42 }).decrement('balance', 10)
 *   await tx.forShard('pg-0')('ledger').insert({ id: tx.id, amount: 10 })
 * })
 * ```
 */
export class Transaction {
  /** Unique across processes and time; it names the branches on the servers. */
  readonly id: string
  /** After this instant (ms since epoch) the transaction never decides commit. */
  readonly deadline: number
  // The protocol's side of the transaction; never part of the published type.
  readonly #context: TransactionInside

  /** @internal Made by its context. */
  constructor(context: TransactionInside) {
    this.#context = context
    this.id = context.id
    this.deadline = context.deadline
  }

  /** A knex instance bound to this transaction's branch on shard `shardId`. */
  forShard(shardId: string): Knex {
    return this.#context.forShard(shardId)
  }

  /** A knex instance bound to the branch on the shard that owns `key`. */
  forKey(key: string | number | bigint | Uint8Array): Knex {
    return this.#context.forKey(key)
  }

  /**
   * Runs `hook` once the transaction has committed (after the decision; recovery
   * may still be finishing a branch). Hooks run in order and are awaited; an error
   * in one is logged, never thrown. Nothing runs when the outcome is in doubt.
   *
   * ```ts
   * tx.afterCommit(() => cache.delete(`user:${id}`))
   * ```
   */
  afterCommit(hook: () => unknown): void {
    this.#context.addOutcomeHook('committed', hook)
  }

  /** Runs `hook` once the transaction has rolled back everywhere; see {@link afterCommit}. */
  afterRollback(hook: () => unknown): void {
    this.#context.addOutcomeHook('rolled back', hook)
  }

  /**
   * A query builder on a table declared in the cluster's `tables` that routes
   * each statement to the shards owning its rows, inside this transaction;
   * see {@link ShardedQuery} and docs/sharded-tables.md.
   *
   * ```ts
   * await tx.table('accounts').where({ id: 1 }).decrement('balance', 10)
   * await tx.table('accounts').insert([{ id: 7, balance: 0 }, { id: 8, balance: 0 }])
   * ```
   */
  table<TRow extends object = Record<string, any>>(name: string): ShardedQuery<TRow> {
    return this.#context.table<TRow>(name)
  }

  /** Shard ids this transaction has touched so far. */
  get shards(): string[] {
    return this.#context.shards
  }

  get state(): TransactionState {
    return this.#context.state
  }
}

/** The reason given when the transaction's time is up. */
export function timeoutReason(timeoutMs: number): TransactionTimeoutError {
  return new TransactionTimeoutError(`timed out after ${timeoutMs} ms`)
}
