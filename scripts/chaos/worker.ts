/**
 * A chaos worker: a coordinator process running random transfers through
 * shardtx, `concurrency` at a time, until its parent says stop or SIGKILLs it.
 * It reports every outcome to the parent over IPC and never exits on a
 * database error: under chaos every shard may vanish at any moment.
 *
 * Run by the parent as `node --import tsx scripts/chaos/worker.ts` with the
 * plan in `SHARDTX_CHAOS_WORKER` (see {@link WorkerPlan}).
 */
import { createCluster, ShardUnresponsiveError, TransactionInDoubtError } from '../../src/index.js'
import { describeFailure } from './mover.js'
import { BANK, BANK_TABLES, runTransfer, type Transfer, type WorkerMessage, type WorkerPlan } from './bank.js'
import { deriveSeed, Prng } from './prng.js'
import { parentChannel } from './parent-channel.js'

const plan = JSON.parse(process.env.SHARDTX_CHAOS_WORKER ?? 'null') as WorkerPlan
if (plan === null || process.send === undefined) {
  process.stderr.write('scripts/chaos/worker.ts is started by scripts/chaos.ts, with an IPC channel and SHARDTX_CHAOS_WORKER\n')
  process.exit(2)
}

const send = parentChannel<WorkerMessage>()

const cluster = createCluster({
  shards: plan.shards.map((s) => ({ ...s, pool: { max: plan.concurrency + 4 } })),
  log: plan.log,
  prefix: BANK.prefix,
  logTable: BANK.logTable,
  timeout: plan.timeoutMs,
  lockTimeout: plan.lockTimeoutMs,
  maxWait: plan.timeoutMs,
  // A black-holed path accepts connections and never answers: give up on one as soon as on a pooled wait.
  connectTimeout: plan.timeoutMs,
  recovery: plan.recovery,
  // Where each transfer in flight is, for the report of a worker that does not stop.
  onStep: (event) => {
    const transferId = transferOfTx.get(event.txId)
    const entry = transferId === undefined ? undefined : inFlight.get(transferId)
    if (entry !== undefined) note(entry, `step ${event.step}${event.shardId === undefined ? '' : ` on ${event.shardId}`}`)
  },
  // With a mover changing the shard set: route by the stored topology.
  ...(plan.reshard === true ? { topology: 'follow' as const, tables: BANK_TABLES } : {}),
})

const random = new Prng(deriveSeed(plan.seed, plan.slot, plan.incarnation))
let sequence = 0
let stopping = false

function nextTransfer(): Transfer {
  const from = random.int(plan.accounts)
  let to = random.int(plan.accounts - 1)
  if (to >= from) to++
  // Slot and incarnation make ids unique across every worker process of the run.
  return { id: `${plan.slot}.${plan.incarnation}.${sequence++}`, from, to, amount: random.between(1, 50) }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A transfer in flight: since when, its current attempt's transaction id, and what it did last, since when. */
interface InFlight {
  startedAt: number
  txId?: string
  phase: string
  phaseAt: number
}
const inFlight = new Map<string, InFlight>()
const transferOfTx = new Map<string, string>()
let started = 0

function note(entry: InFlight, phase: string): void {
  entry.phase = phase
  entry.phaseAt = Date.now()
}

async function lane(): Promise<void> {
  while (!stopping) {
    const transfer = nextTransfer()
    started++
    const entry: InFlight = { startedAt: Date.now(), phase: 'waiting to begin', phaseAt: Date.now() }
    inFlight.set(transfer.id, entry)
    try {
      await cluster.transaction(async (tx) => {
        if (entry.txId !== undefined) transferOfTx.delete(entry.txId)
        entry.txId = tx.id
        transferOfTx.set(tx.id, transfer.id)
        note(entry, 'running its statements')
        await runTransfer(tx, transfer)
        note(entry, 'committing (its statements returned)')
      })
      send({ t: 'ack', id: transfer.id })
    } catch (error) {
      if (error instanceof TransactionInDoubtError) send({ t: 'doubt', id: transfer.id, reason: doubtReason(error) })
      else send({ t: 'failed', id: transfer.id, error: describeFailure(error) })
      // A shard may be down: back off a little instead of spinning on refused connections.
      await sleep(random.between(50, 250))
    } finally {
      inFlight.delete(transfer.id)
      if (entry.txId !== undefined) transferOfTx.delete(entry.txId)
    }
  }
}

function sendStats(): void {
  const s = cluster.stats()
  send({
    t: 'stats',
    stats: {
      started,
      oldestInFlightMs: inFlight.size === 0 ? 0 : Date.now() - Math.min(...[...inFlight.values()].map((e) => e.startedAt)),
      onePhase: s.commits.onePhase,
      twoPhase: s.commits.twoPhase,
      aborts: s.aborts,
      inDoubt: s.inDoubt,
      commitPhaseIncomplete: s.commitPhaseIncomplete,
      recoveredCommitted: s.recovered.committed,
      recoveredRolledBack: s.recovered.rolledBack,
    },
  })
}

const statsTimer = setInterval(sendStats, 1_000)
const lanes = Array.from({ length: plan.concurrency }, lane)
let phase = 'running transfers'
process.on('message', (message: { t?: string }) => {
  if (message?.t !== 'stop' || stopping) return
  stopping = true
  // The parent SIGKILLs a worker that has not stopped 30 s after asking: say first what it still waits for.
  setTimeout(() => {
    const now = Date.now()
    const transfers = [...inFlight].map(
      ([id, e]) => `${id} (tx ${e.txId ?? '-'}) ${now - e.startedAt} ms old, ${e.phase} for ${now - e.phaseAt} ms`,
    )
    const { admission } = cluster.stats()
    process.stderr.write(
      `still stopping after 20 s: ${phase}; ${inFlight.size} transfers in flight: ${transfers.join('; ')}; admission ${JSON.stringify(admission)}\n`,
    )
  }, 20_000).unref()
})
send({ t: 'ready' })

await Promise.all(lanes)
clearInterval(statsTimer)
sendStats()
phase = 'closing the cluster'
await cluster.close().catch(() => {})
phase = 'sending its last message'
// Exit only once the last message is on its way: a disconnect may drop queued ones.
process.send!({ t: 'stopped' } satisfies WorkerMessage, () => process.exit(0))

/**
 * Why a transfer was in doubt, for the report: which commit point lost its answer, and
 * whether its connection broke or stopped answering (the bound closed it).
 */
function doubtReason(error: TransactionInDoubtError): string {
  const how = error.cause instanceof ShardUnresponsiveError ? 'no answer in time' : 'connection lost'
  if (/one-phase COMMIT/.test(error.message)) return `one-phase COMMIT, ${how}`
  if (/no prepared branch was left/.test(error.message)) return 'decision lost, no prepared branch left to prove an abort'
  if (/could not be written or read/.test(error.message)) return 'decision neither written nor read back'
  return error.message.slice(0, 80)
}
