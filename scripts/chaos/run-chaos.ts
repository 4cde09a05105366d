import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Cluster, createCluster } from '../../src/index.js'
import { startLocalCluster } from '../../src/testing/index.js'
import { auditBank, type BankAudit, type FinalRecovery, recoverUntilSettled } from './bank-audit.js'
import { BANK, BANK_TABLES, createBank, type WorkerStats } from './bank.js'
import { ChaosLoop, type ChaosEvent } from './chaos-loop.js'
import type { ChaosOptions } from './chaos-options.js'
import { type TransferOutcomes, WorkerPool } from './worker-pool.js'
import { MoverProcess } from './mover-process.js'
import { describeFailure } from './mover.js'

/** With `--reshard`: the bank's shards, and the spare one the mover adds and removes. */
const SMALL = ['pg-0', 'pg-1', 'my-0', 'my-1']
const SPARE = 'my-2'

/** What the resharding job of a `--reshard` run did, and its own violations. */
export interface ReshardReport {
  moverKills: number
  /** Batches the mover reported committed (a batch in flight at a SIGKILL may commit unreported). */
  batches: number
  /** Jobs the mover saw finish, by how (grow done, shrink done, shrink by reverse). */
  finishedByMover: Record<string, number>
  moverErrors: Record<string, number>
  unexpectedMoverExits: MoverProcess['unexpectedExits']
  /** What the final step did to finish the job in progress and come back to the bank's shards. */
  finalSteps: string[]
  finalErrors: Record<string, number>
  /** Jobs on the log shard by state at the end. */
  jobsByState: Record<string, number>
  finalShards: string[]
  finalEpoch: number
  violations: {
    /** Rows of the bank's tables not on their owner (cluster.verifyPlacement()). */
    misplacedRows: number
    /** Jobs not done or reversed at the end, after the final step resumed them. */
    unfinishedJobs: number
    /** The shard set at the end is not the bank's. */
    notBackToStart: number
  }
  misplacedExamples: string[]
}

/** Everything a chaos run measured; `passed` when every violation count is 0. */
export interface ChaosReport {
  options: ChaosOptions
  passed: boolean
  underFireMs: number
  acknowledged: number
  failed: number
  failedByError: Record<string, number>
  inDoubtForCaller: number
  /** The in-doubt transfers by why they were (worker.ts doubtReason). */
  inDoubtByReason: Record<string, number>
  coordinatorKills: number
  shardKills: Record<string, number>
  shardKillTotal: number
  injectedCrashes: number
  /** Network faults injected, by kind: paths black-holed and reset. */
  networkFaults: { blackhole: number; reset: number }
  networkFaultTotal: number
  restartFailures: number
  unexpectedWorkerExits: WorkerPool['unexpectedExits']
  workerStats: WorkerStats
  finalRecovery: FinalRecovery
  audit: BankAudit
  /** The audit again after `tamper` ran, when it was given: proof that the audit sees each kind of damage. */
  tamperedAudit: BankAudit | undefined
  runDir: string | undefined
  /** The last chaos events, when the run failed. */
  timeline: ChaosEvent[]
  /** With `--reshard`. */
  reshard: ReshardReport | undefined
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The chaos bank test: starts 2 PostgreSQL + 2 MariaDB throwaway servers, creates
 * the bank, runs the workers under the chaos loop for `durationMs`, then brings
 * everything back, recovers until settled and audits every shard.
 * Leaves no server or worker process behind, whatever happens.
 */
export async function runChaos(
  options: ChaosOptions,
  say: (line: string) => void = () => {},
  hooks: { tamper?: (cluster: Cluster, outcomes: TransferOutcomes) => Promise<void> } = {},
): Promise<ChaosReport> {
  const runDir = mkdtempSync(join(tmpdir(), 'shardtx-chaos-'))
  // With network faults, every shard is reached through a fault proxy (shardtx/testing).
  const local = await startLocalCluster({ postgres: 2, mysql: options.reshard ? 3 : 2, durable: options.durable, faults: options.networkFaultEveryMs > 0 })
  let pool: WorkerPool | undefined
  let mover: MoverProcess | undefined
  let passed = false
  const onExit = (): void => {
    pool?.killAll()
    mover?.killAll()
  }
  process.on('exit', onExit)
  try {
    const clusterOptions = {
      shards: local.shards,
      log: options.log,
      prefix: BANK.prefix,
      logTable: BANK.logTable,
      ...(options.reshard ? { topology: 'follow' as const, tables: BANK_TABLES } : {}),
    }
    if (options.reshard) {
      // The bank on its four shards (this process stores them as the topology); the spare one gets empty tables.
      const setup = createCluster({ ...clusterOptions, shards: local.shards.filter((s) => SMALL.includes(s.id)), topology: 'check', recovery: false })
      const spare = createCluster({ ...clusterOptions, recovery: false })
      await createBank(setup, options.accounts, options.initialBalance, [spare])
      await Promise.all([setup.close(), spare.close()])
    } else {
      const setup = createCluster({ ...clusterOptions, recovery: false })
      await createBank(setup, options.accounts, options.initialBalance)
      await setup.close()
    }

    pool = new WorkerPool(
      {
        shards: local.shards,
        log: options.log,
        seed: options.seed,
        accounts: options.accounts,
        concurrency: options.concurrency,
        timeoutMs: options.timeoutMs,
        lockTimeoutMs: options.lockTimeoutMs,
        recovery: options.recovery,
        reshard: options.reshard,
      },
      options.workers,
      runDir,
    )
    await pool.start()
    if (options.reshard) {
      mover = new MoverProcess(
        {
          shards: local.shards,
          log: options.log,
          small: SMALL,
          spare: SPARE,
          seed: options.seed,
          timeoutMs: options.timeoutMs,
          lockTimeoutMs: options.lockTimeoutMs,
          recovery: options.recovery,
        },
        runDir,
      )
      await mover.start()
    }
    say(`  workers${mover ? ' and mover' : ''} up; chaos for ${(options.durationMs / 1000).toFixed(0)} s`)
    if (options.verbose) say(`  servers: ${local.shards.map((s) => `${s.id} 127.0.0.1:${local.server(s.id).port}`).join(', ')}`)

    const chaos = new ChaosLoop(options, pool, local, say, mover)
    const started = Date.now()
    chaos.start()
    while (Date.now() - started < options.durationMs) {
      await sleep(Math.min(5_000, options.durationMs - (Date.now() - started)))
      if (options.verbose) {
        say(
          `  ${((Date.now() - started) / 1000).toFixed(0)}s: ${pool.outcomes.acknowledged.size} acknowledged, ` +
            `${pool.kills} worker kills, ${chaos.shardKillCount} shard kills, ${chaos.networkFaultCount} network faults, ` +
            `down: ${chaos.down.join(' ') || '-'}\n    ${pool.describeLive()}${mover ? `\n    ${mover.describe()}` : ''}`,
        )
      }
    }
    await chaos.stop()
    const underFireMs = Date.now() - started
    say(`  chaos stopped; every shard is up; stopping workers${mover ? ' and the mover' : ''}`)
    await pool.stopAll()
    await mover?.stop()

    say('  final recovery')
    const final = createCluster({ ...clusterOptions, recovery: { enabled: false, graceMs: options.recovery.graceMs } })
    try {
      const limitMs = options.timeoutMs + options.recovery.graceMs + 60_000
      let finalRecovery = await recoverUntilSettled(final, options.log, limitMs)
      let reshard: ReshardReport | undefined
      if (mover !== undefined) {
        say('  finishing the resharding job in progress, back to the bank\'s shards')
        reshard = await finishResharding(final, mover, options.log, say)
        // A try of the final step that failed may have left a batch prepared.
        const again = await recoverUntilSettled(final, options.log, limitMs)
        finalRecovery = { ...again, rounds: finalRecovery.rounds + again.rounds, committed: finalRecovery.committed + again.committed, rolledBack: finalRecovery.rolledBack + again.rolledBack, forgotten: finalRecovery.forgotten + again.forgotten, ms: finalRecovery.ms + again.ms }
      }
      const bank = { accounts: options.accounts, initialBalance: options.initialBalance, logShard: options.log }
      const audit = await auditBank(final, bank, pool.outcomes)
      let tamperedAudit: BankAudit | undefined
      if (hooks.tamper !== undefined) {
        await hooks.tamper(final, pool.outcomes)
        tamperedAudit = await auditBank(final, bank, pool.outcomes)
      }
      passed = Object.values(audit.violations).every((n) => n === 0) && (reshard === undefined || Object.values(reshard.violations).every((n) => n === 0))
      const failedByError: Record<string, number> = {}
      for (const error of pool.outcomes.failed.values()) failedByError[error] = (failedByError[error] ?? 0) + 1
      const inDoubtByReason: Record<string, number> = {}
      for (const reason of pool.outcomes.inDoubtReasons.values()) inDoubtByReason[reason] = (inDoubtByReason[reason] ?? 0) + 1
      const shardKills = Object.fromEntries(chaos.shardKills)
      return {
        options,
        passed,
        underFireMs,
        acknowledged: pool.outcomes.acknowledged.size,
        failed: pool.outcomes.failed.size,
        failedByError,
        inDoubtForCaller: pool.outcomes.inDoubt.size,
        inDoubtByReason,
        coordinatorKills: pool.kills,
        shardKills,
        shardKillTotal: chaos.shardKillCount,
        injectedCrashes: pool.kills + chaos.shardKillCount,
        networkFaults: { ...chaos.networkFaults },
        networkFaultTotal: chaos.networkFaultCount,
        restartFailures: chaos.restartFailures,
        unexpectedWorkerExits: pool.unexpectedExits,
        workerStats: pool.stats(),
        finalRecovery,
        audit,
        tamperedAudit,
        runDir: passed && !options.keep ? undefined : runDir,
        timeline: passed && pool.unexpectedExits.length === 0 ? [] : chaos.events.slice(-40),
        reshard,
      }
    } finally {
      await final.close()
    }
  } finally {
    pool?.killAll()
    mover?.killAll()
    process.removeListener('exit', onExit)
    await local.destroy()
    if (passed && !options.keep) rmSync(runDir, { recursive: true, force: true })
  }
}

/** The figures of a run, as printed by scripts/chaos.ts. */
export function formatChaosReport(report: ChaosReport, command: string): string {
  const { options: o, audit, finalRecovery: f, workerStats: w } = report
  const pad = (label: string): string => `  ${label}`.padEnd(42)
  const kills = Object.entries(report.shardKills).map(([id, n]) => `${id} ${n}`).join(', ')
  const failures = Object.entries(report.failedByError).sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${n}`).join(', ')
  const lines = [
    `shardtx chaos bank test, seed ${o.seed}`,
    `  replay: ${command}`,
    `  2 PostgreSQL + ${o.reshard ? 3 : 2} MariaDB servers, ${o.durable ? 'durable (fsync on)' : 'fsync off'}, log shard ${o.log}`,
    `  ${o.workers} workers x ${o.concurrency} transfers in flight, ${o.accounts} accounts, timeout ${o.timeoutMs} ms, ` +
      `lock timeout ${o.lockTimeoutMs} ms, recovery every ${o.recovery.intervalMs} ms (grace ${o.recovery.graceMs} ms)`,
    `${pad('under fire')}${(report.underFireMs / 1000).toFixed(1)} s`,
    `${pad('transfers acknowledged')}${report.acknowledged}`,
    `${pad('transfers failed for their caller')}${report.failed}${failures ? ` (${failures})` : ''}`,
    `${pad('transfers in doubt for their caller')}${report.inDoubtForCaller} (committed ${audit.inDoubtCommitted}, rolled back ${audit.inDoubtRolledBack})`,
    ...(report.inDoubtForCaller === 0 ? [] : [`${pad('  in doubt because')}${Object.entries(report.inDoubtByReason).sort((a, b) => b[1] - a[1]).map(([why, n]) => `${why} ${n}`).join(', ')}`]),
    `${pad('transfers committed (ledger)')}${audit.committedTransfers} (of which in flight in a killed worker: ${audit.unreportedCommitted})`,
    `${pad('commits seen by workers')}one-phase ${w.onePhase}, two-phase ${w.twoPhase}, commit phase left to recovery ${w.commitPhaseIncomplete}`,
    `${pad('coordinator kills')}${report.coordinatorKills}`,
    `${pad('shard kills')}${report.shardKillTotal}${kills ? ` (${kills})` : ''}`,
    `${pad('injected crashes')}${report.injectedCrashes}`,
    `${pad('network faults')}${report.networkFaultTotal} (blackhole ${report.networkFaults.blackhole}, reset ${report.networkFaults.reset})`,
    `${pad('unexpected worker exits')}${report.unexpectedWorkerExits.length}`,
    `${pad('background recovery (workers)')}committed ${w.recoveredCommitted}, rolled back ${w.recoveredRolledBack} branches`,
    `${pad('final recovery rounds')}${f.rounds} in ${(f.ms / 1000).toFixed(1)} s (committed ${f.committed}, rolled back ${f.rolledBack}, forgot ${f.forgotten} commit records)`,
    `  violations (all must be 0):`,
    `${pad('  sum of balances drift')}${audit.violations.balanceSumDrift} (expected ${audit.expectedTotal}, found ${audit.actualTotal})`,
    `${pad('  transfers on one shard only')}${audit.violations.splitTransfers}`,
    `${pad('  balances disagreeing with ledger')}${audit.violations.balancesDisagreeingWithLedger}`,
    `${pad('  misplaced accounts / ledger rows')}${audit.violations.misplacedAccounts} / ${audit.violations.misplacedLedgerRows}`,
    `${pad('  acknowledged transfers missing')}${audit.violations.acknowledgedMissing}`,
    `${pad('  failed transfers committed anyway')}${audit.violations.failedButCommitted}`,
    `${pad('  prepared branches left')}${audit.violations.preparedBranchesLeft}`,
    `${pad('  commit records left in the log')}${audit.violations.commitRecordsLeft}`,
  ]
  const r = report.reshard
  if (r !== undefined) {
    const counts = (m: Record<string, number>): string => Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ') || '-'
    lines.push(
      `  resharding (${SMALL.join(' ')} ⇄ + ${SPARE}):`,
      `${pad('  mover kills')}${r.moverKills}`,
      `${pad('  batches committed (reported)')}${r.batches}`,
      `${pad('  jobs finished by the mover')}${counts(r.finishedByMover)}`,
      `${pad('  mover errors (retried)')}${counts(r.moverErrors)}`,
      `${pad('  unexpected mover exits')}${r.unexpectedMoverExits.length}`,
      `${pad('  final step')}${r.finalSteps.join('; ') || 'nothing left to do'}${Object.keys(r.finalErrors).length ? ` (errors retried: ${counts(r.finalErrors)})` : ''}`,
      `${pad('  jobs on the log shard')}${counts(r.jobsByState)}`,
      `${pad('  final topology')}epoch ${r.finalEpoch}: ${r.finalShards.join(' ')}`,
      `  resharding violations (all must be 0):`,
      `${pad('  rows not on their owner (verify)')}${r.violations.misplacedRows}`,
      `${pad('  jobs not finished')}${r.violations.unfinishedJobs}`,
      `${pad('  shard set not back to the start')}${r.violations.notBackToStart}`,
    )
    if (r.misplacedExamples.length > 0) lines.push(...r.misplacedExamples.map((e) => `    ${e}`))
  }
  lines.push(`RESULT: ${report.passed ? 'PASS' : 'FAIL'}`)
  if (!report.passed) {
    lines.push('  examples:', ...audit.examples.map((e) => `    ${e}`))
    lines.push('  last chaos events:', ...report.timeline.map((e) => `    ${(e.atMs / 1000).toFixed(2)}s ${e.what}`))
  }
  if (report.unexpectedWorkerExits.length > 0) {
    lines.push('  unexpected worker exits:')
    for (const e of report.unexpectedWorkerExits.slice(0, 5)) {
      lines.push(`    worker ${e.slot}.${e.incarnation}: code ${e.code} signal ${e.signal}: ${e.stderr.trim().split('\n').slice(-3).join(' | ')}`)
    }
    // What the chaos did last, when a passing run had a worker that would not stop.
    if (report.passed) lines.push('  last chaos events:', ...report.timeline.map((e) => `    ${(e.atMs / 1000).toFixed(2)}s ${e.what}`))
  }
  for (const e of report.reshard?.unexpectedMoverExits.slice(0, 5) ?? []) {
    lines.push(`  unexpected mover exit ${e.incarnation}: code ${e.code} signal ${e.signal}: ${e.stderr.trim().split('\n').slice(-3).join(' | ')}`)
  }
  if (report.runDir !== undefined) lines.push(`  run directory (acks.log, workers.stderr): ${report.runDir}`)
  return lines.join('\n')
}

/**
 * After the run, with every shard up and the mover stopped: resumes the job in
 * progress (forward or reverse) until it is finished, then, when the topology is
 * at the grown set, shrinks it back to the bank's shards; then verifies placement
 * and counts the jobs on the log shard by state.
 */
async function finishResharding(cluster: Cluster, mover: MoverProcess, logShard: string, say: (line: string) => void): Promise<ReshardReport> {
  const finalSteps: string[] = []
  const finalErrors: Record<string, number> = {}
  const deadline = Date.now() + 180_000
  for (;;) {
    try {
      const job = await cluster.reshardStatus()
      const routed = (await cluster.topology()).shards.map((s) => s.id).sort()
      if (job?.state === 'running' || job?.state === 'cancelled') {
        const p = await cluster.reshard(job.to.map((id) => ({ id })), { batchSize: 200 })
        finalSteps.push(`resumed job ${p.jobId} to ${p.state} (${job.done}→${p.done}/${p.total})`)
      } else if (job?.state === 'reversing') {
        const p = await cluster.reverseReshard({ batchSize: 200 })
        finalSteps.push(`resumed the reverse of job ${p.jobId} to ${p.state} (${job.done}→${p.done}/${p.total})`)
      } else if (routed.join(' ') !== [...SMALL].sort().join(' ')) {
        const p = await cluster.reshard(SMALL.map((id) => ({ id })), { batchSize: 200 })
        finalSteps.push(`shrank back by job ${p.jobId}: ${p.state}`)
      } else {
        break
      }
    } catch (error) {
      const name = describeFailure(error)
      finalErrors[name] = (finalErrors[name] ?? 0) + 1
      if (Date.now() > deadline) {
        say(`  could not finish resharding: ${error instanceof Error ? error.message : String(error)}`)
        break
      }
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }
  const placement = await cluster.verifyPlacement()
  const topology = await cluster.topology()
  const jobs = (await cluster.forShard(logShard)(`${BANK.logTable}_reshard`).select('state')) as { state: string }[]
  const jobsByState: Record<string, number> = {}
  for (const { state } of jobs) jobsByState[state] = (jobsByState[state] ?? 0) + 1
  const finishedByMover: Record<string, number> = {}
  for (const f of mover.finished) {
    const how = f.state === 'reversed' ? 'shrunk by reverse' : f.to.includes(SPARE) ? 'grown' : 'shrunk by reshard'
    finishedByMover[how] = (finishedByMover[how] ?? 0) + 1
  }
  const finalShards = topology.shards.map((s) => s.id).sort()
  return {
    moverKills: mover.kills,
    batches: mover.batches,
    finishedByMover,
    moverErrors: Object.fromEntries(mover.errors),
    unexpectedMoverExits: mover.unexpectedExits,
    finalSteps,
    finalErrors,
    jobsByState,
    finalShards,
    finalEpoch: topology.epoch,
    violations: {
      misplacedRows: placement.misplaced.reduce((n, m) => n + m.rows, 0),
      unfinishedJobs: jobs.filter((j) => j.state !== 'done' && j.state !== 'reversed').length,
      notBackToStart: finalShards.join(' ') === [...SMALL].sort().join(' ') ? 0 : 1,
    },
    misplacedExamples: placement.misplaced.slice(0, 10).map((m) => `${m.rows} rows of ${m.table} on ${m.shardId}, owner ${m.owner} (e.g. key ${m.example})`),
  }
}
