import type { Cluster, ShardConfig, Transaction } from '../../src/index.js'

/** The tables of the chaos bank, on every shard, and its branch prefix and log table. */
export const BANK = {
  accounts: 'chaos_accounts',
  ledger: 'chaos_ledger',
  prefix: 'chaos_',
  logTable: 'chaos_log',
} as const

/**
 * The bank's tables as declared sharded tables (with `--reshard`, so that a
 * resharding job moves them): an account and its ledger rows by the account's key.
 */
export const BANK_TABLES = {
  [BANK.accounts]: { shardKey: (row: Record<string, unknown>) => accountKey(Number(row.id)), keyColumns: ['id'] },
  [BANK.ledger]: { shardKey: (row: Record<string, unknown>) => accountKey(Number(row.account)), keyColumns: ['account'] },
}

/** Key of an account on the ring: accounts live where `cluster.shardFor(accountKey(id))` says. */
export function accountKey(id: number): string {
  return `account:${id}`
}

/** One transfer: `amount` from account `from` to account `to`, named `id` in the ledger. */
export interface Transfer {
  id: string
  from: number
  to: number
  amount: number
}

/**
 * Creates the bank on every shard and the log table on the log shard, then puts
 * each account on the shard the ring gives its key, with `balance` in it.
 */
export async function createBank(cluster: Cluster, accounts: number, balance: number, spare: Cluster[] = []): Promise<void> {
  await cluster.migrate()
  await Promise.all(spare.map((c) => c.migrate()))
  const empty = spare.flatMap((c) => c.shardIds.filter((id) => !cluster.shardIds.includes(id)).map((id) => ({ id, knex: c.forShard(id) })))
  await Promise.all(
    [...cluster.shardIds.map((id) => ({ id, knex: cluster.forShard(id) })), ...empty].map(async ({ id: shardId, knex }) => {
      await knex.schema.createTable(BANK.accounts, (t) => {
        t.integer('id').primary()
        t.integer('balance').notNullable()
      })
      await knex.schema.createTable(BANK.ledger, (t) => {
        t.string('transfer_id', 40).notNullable()
        // 'debit' lives with the payer's account, 'credit' with the payee's.
        t.string('side', 6).notNullable()
        t.integer('account').notNullable()
        t.integer('amount').notNullable()
        t.primary(['transfer_id', 'side'])
        // The shard-key index: a resharding batch finds an account's ledger rows by it.
        t.index(['account'])
      })
      const rows = []
      // A spare shard (one a resharding job adds) starts empty.
      for (let id = 0; id < accounts && cluster.shardIds.includes(shardId); id++) if (cluster.shardFor(accountKey(id)) === shardId) rows.push({ id, balance })
      for (let i = 0; i < rows.length; i += 500) await knex(BANK.accounts).insert(rows.slice(i, i + 500))
    }),
  )
  // The first process that loads the topology stores its shard set: the bank's, not the spare's.
  if (spare.length > 0) await cluster.transaction(async () => {})
}

/**
 * The body of a transfer: both balances move and each side writes its ledger row
 * on its own shard, so a transfer that commits on one shard only shows up as a
 * lone ledger row and a balance that disagrees with its ledger.
 */
export async function runTransfer(tx: Transaction, transfer: Transfer): Promise<void> {
  const { id, from, to, amount } = transfer
  const payer = tx.forKey(accountKey(from))
  const payee = tx.forKey(accountKey(to))
  const debited = await payer(BANK.accounts).where({ id: from }).decrement('balance', amount)
  const credited = await payee(BANK.accounts).where({ id: to }).increment('balance', amount)
  if (debited !== 1 || credited !== 1) throw new Error(`transfer ${id}: accounts ${from} → ${to} not found (${debited}, ${credited})`)
  await payer(BANK.ledger).insert({ transfer_id: id, side: 'debit', account: from, amount: -amount })
  await payee(BANK.ledger).insert({ transfer_id: id, side: 'credit', account: to, amount })
}

/** What the parent tells a worker process, as JSON in `SHARDTX_CHAOS_WORKER`. */
export interface WorkerPlan {
  shards: ShardConfig[]
  log: string
  slot: number
  incarnation: number
  seed: number
  accounts: number
  concurrency: number
  timeoutMs: number
  lockTimeoutMs: number
  recovery: { intervalMs: number; graceMs: number }
  /** Route by the stored topology (a mover changes it), with the bank's tables declared. */
  reshard?: boolean
}

/** Messages a worker sends its parent over IPC. */
export type WorkerMessage =
  | { t: 'ready' }
  /** `transaction()` resolved: the transfer committed. */
  | { t: 'ack'; id: string }
  /** `transaction()` rejected with anything but TransactionInDoubtError: nothing committed. */
  | { t: 'failed'; id: string; error: string }
  /** TransactionInDoubtError: recovery decides, atomically. */
  | { t: 'doubt'; id: string; reason: string }
  | { t: 'stats'; stats: WorkerStats }
  | { t: 'stopped' }

export interface WorkerStats {
  /** Transfers begun by this incarnation. */
  started: number
  /** Age of the oldest transfer still running, in ms (0 when none): a lane stuck past its timeout shows here. */
  oldestInFlightMs: number
  onePhase: number
  twoPhase: number
  aborts: number
  inDoubt: number
  commitPhaseIncomplete: number
  recoveredCommitted: number
  recoveredRolledBack: number
}
