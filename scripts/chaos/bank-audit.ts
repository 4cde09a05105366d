import type { Cluster } from '../../src/index.js'
import { accountKey, BANK } from './bank.js'
import type { TransferOutcomes } from './worker-pool.js'

/** What final recovery did. */
export interface FinalRecovery {
  rounds: number
  committed: number
  rolledBack: number
  forgotten: number
  /** Still unsettled when it gave up (each a violation later). */
  leftInDoubt: number
  ms: number
}

/**
 * Recovers until no branch of ours is prepared and no commit record is left, or
 * until `limitMs` passes: transactions are only judged once their deadline and
 * the grace are over, so this waits that long at most, plus retries.
 */
export async function recoverUntilSettled(cluster: Cluster, logShard: string, limitMs: number): Promise<FinalRecovery> {
  const started = Date.now()
  const result: FinalRecovery = { rounds: 0, committed: 0, rolledBack: 0, forgotten: 0, leftInDoubt: 0, ms: 0 }
  for (;;) {
    result.rounds++
    let settled = false
    try {
      const report = await cluster.recover()
      result.committed += report.committed.length
      result.rolledBack += report.rolledBack.length
      result.forgotten += report.forgotten
      const left = await cluster.inDoubt()
      result.leftInDoubt = left.length
      settled = left.length === 0 && report.failed.length === 0 && (await commitRecordsLeft(cluster, logShard)) === 0
    } catch {
      // A shard still warming up after its restart: the next round retries.
    }
    if (settled || Date.now() - started > limitMs) break
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  result.ms = Date.now() - started
  return result
}

async function commitRecordsLeft(cluster: Cluster, logShard: string): Promise<number> {
  const [row] = (await cluster.forShard(logShard)(BANK.logTable).where({ decision: 'commit' }).count({ n: '*' })) as { n: unknown }[]
  return Number(row?.n ?? 0)
}

/** Every check of the bank after the run; each violation count must be 0. */
export interface BankAudit {
  expectedTotal: number
  actualTotal: number
  /** Transfers whose ledger rows are on both shards. */
  committedTransfers: number
  /** Of those, ones no worker reported (it was killed with the transfer in flight). */
  unreportedCommitted: number
  inDoubtCommitted: number
  inDoubtRolledBack: number
  violations: {
    /** |sum of balances − initial sum|. */
    balanceSumDrift: number
    /** Accounts missing, duplicated, or not on the shard the ring gives them. */
    misplacedAccounts: number
    /** Transfers with a ledger row on one side only (or sides that do not add up). */
    splitTransfers: number
    /** Ledger rows not on the shard of their account. */
    misplacedLedgerRows: number
    /** Accounts whose balance is not their initial balance plus their ledger rows. */
    balancesDisagreeingWithLedger: number
    /** Transfers a worker acknowledged that are not committed. */
    acknowledgedMissing: number
    /** Transfers whose caller saw a failure other than in-doubt that are committed anyway. */
    failedButCommitted: number
    /** Prepared branches of ours on any shard (pg_prepared_xacts, XA RECOVER). */
    preparedBranchesLeft: number
    /** Commit records still in the log table. */
    commitRecordsLeft: number
  }
  /** A few examples per violation, for the report. */
  examples: string[]
}

interface LedgerRow {
  transfer_id: string
  side: 'debit' | 'credit'
  account: number
  amount: number
}

/** Reads every shard directly (autocommit, after the run) and checks the bank. */
export async function auditBank(
  cluster: Cluster,
  options: { accounts: number; initialBalance: number; logShard: string },
  outcomes: TransferOutcomes,
): Promise<BankAudit> {
  const examples: string[] = []
  const example = (text: string): void => {
    if (examples.length < 20) examples.push(text)
  }
  const balances = new Map<number, number>()
  let misplacedAccounts = 0
  let misplacedLedgerRows = 0
  let preparedBranchesLeft = 0
  const transfers = new Map<string, { debit?: LedgerRow; credit?: LedgerRow }>()
  const ledgerSum = new Map<number, number>()

  for (const shardId of cluster.shardIds) {
    const knex = cluster.forShard(shardId)
    const accounts = (await knex(BANK.accounts).select('id', 'balance')) as { id: number; balance: number }[]
    for (const { id, balance } of accounts) {
      const account = Number(id)
      if (balances.has(account) || cluster.shardFor(accountKey(account)) !== shardId) {
        misplacedAccounts++
        example(`account ${account} found on ${shardId}`)
      }
      balances.set(account, Number(balance))
    }
    const ledger = (await knex(BANK.ledger).select('transfer_id', 'side', 'account', 'amount')) as LedgerRow[]
    for (const row of ledger) {
      row.account = Number(row.account)
      row.amount = Number(row.amount)
      if (cluster.shardFor(accountKey(row.account)) !== shardId) {
        misplacedLedgerRows++
        example(`ledger row ${row.transfer_id}/${row.side} of account ${row.account} found on ${shardId}`)
      }
      const sides = transfers.get(row.transfer_id) ?? {}
      sides[row.side] = row
      transfers.set(row.transfer_id, sides)
      ledgerSum.set(row.account, (ledgerSum.get(row.account) ?? 0) + row.amount)
    }
    preparedBranchesLeft += await preparedBranchesOn(cluster, shardId)
  }
  misplacedAccounts += Math.max(0, options.accounts - balances.size)

  let actualTotal = 0
  for (const balance of balances.values()) actualTotal += balance
  let balancesDisagreeingWithLedger = 0
  for (const [account, balance] of balances) {
    const expected = options.initialBalance + (ledgerSum.get(account) ?? 0)
    if (balance !== expected) {
      balancesDisagreeingWithLedger++
      example(`account ${account}: balance ${balance}, initial + ledger = ${expected}`)
    }
  }

  const committed = new Set<string>()
  let splitTransfers = 0
  for (const [id, { debit, credit }] of transfers) {
    if (debit !== undefined && credit !== undefined && debit.amount === -credit.amount) {
      committed.add(id)
    } else {
      splitTransfers++
      example(`transfer ${id}: debit ${debit ? 'present' : 'missing'}, credit ${credit ? 'present' : 'missing'}`)
    }
  }

  let acknowledgedMissing = 0
  for (const id of outcomes.acknowledged) {
    if (!committed.has(id)) {
      acknowledgedMissing++
      example(`transfer ${id} was acknowledged but is not committed`)
    }
  }
  let failedButCommitted = 0
  for (const [id, error] of outcomes.failed) {
    if (transfers.has(id)) {
      failedButCommitted++
      example(`transfer ${id} failed for its caller (${error}) but has ledger rows`)
    }
  }
  let inDoubtCommitted = 0
  for (const id of outcomes.inDoubt) if (committed.has(id)) inDoubtCommitted++
  let unreportedCommitted = 0
  for (const id of committed) if (!outcomes.acknowledged.has(id) && !outcomes.inDoubt.has(id)) unreportedCommitted++

  const commitRecords = await commitRecordsLeft(cluster, options.logShard)
  if (commitRecords > 0) example(`${commitRecords} commit records left in ${BANK.logTable}`)
  if (preparedBranchesLeft > 0) example(`${preparedBranchesLeft} prepared branches left`)

  const expectedTotal = options.accounts * options.initialBalance
  return {
    expectedTotal,
    actualTotal,
    committedTransfers: committed.size,
    unreportedCommitted,
    inDoubtCommitted,
    inDoubtRolledBack: outcomes.inDoubt.size - inDoubtCommitted,
    violations: {
      balanceSumDrift: Math.abs(actualTotal - expectedTotal),
      misplacedAccounts,
      splitTransfers,
      misplacedLedgerRows,
      balancesDisagreeingWithLedger,
      acknowledgedMissing,
      failedButCommitted,
      preparedBranchesLeft,
      commitRecordsLeft: commitRecords,
    },
    examples,
  }
}

/** Asks the server itself, not the library's listing: any prepared branch with our prefix. */
async function preparedBranchesOn(cluster: Cluster, shardId: string): Promise<number> {
  const knex = cluster.forShard(shardId)
  if (knex.client.config.client === 'pg') {
    const result = await knex.raw<{ rows: unknown[] }>(
      'SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND starts_with(gid, ?)',
      [BANK.prefix],
    )
    return result.rows.length
  }
  const [rows] = (await knex.raw('XA RECOVER')) as [{ data: Buffer | string }[]]
  return rows.filter((row) => String(row.data).startsWith(BANK.prefix)).length
}
