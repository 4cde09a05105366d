/**
 * The chaos mover (`--reshard`): one process that grows the bank's shards by the
 * spare one and shrinks them back, again and again, through `cluster.reshard()`
 * (the shrink is a second reshard to the old set or a reverse, in turn), until
 * its parent says stop or SIGKILLs it. A restarted mover reads where the last
 * job stands on the log shard and resumes it. It never exits on a database error:
 * it reports the error and tries again.
 *
 * Run by the parent as `node --import tsx scripts/chaos/mover.ts` with the plan in
 * `SHARDTX_CHAOS_MOVER` (see {@link MoverPlan}).
 */
import { type Cluster, createCluster, ShardTxError } from '../../src/index.js'
import { BANK, BANK_TABLES } from './bank.js'
import { deriveSeed, Prng } from './prng.js'
import type { ShardConfig } from '../../src/index.js'
import { parentChannel } from './parent-channel.js'

/** What the parent tells the mover, as JSON in `SHARDTX_CHAOS_MOVER`. */
export interface MoverPlan {
  shards: ShardConfig[]
  log: string
  /** The bank's shard set; the job grows it by `spare` and shrinks it back. */
  small: string[]
  spare: string
  seed: number
  incarnation: number
  timeoutMs: number
  lockTimeoutMs: number
  recovery: { intervalMs: number; graceMs: number }
}

/** Messages the mover sends its parent. */
export type MoverMessage =
  | { t: 'ready' }
  /** A batch committed (the progress after it). */
  | { t: 'batch'; jobId: string; done: number; total: number; state: string }
  /** A job reached a final state by this mover's hand. */
  | { t: 'finished'; jobId: string; state: string; to: string[] }
  | { t: 'error'; error: string }
  | { t: 'stopped' }

/** The next step towards the cycle: grow to `small + spare`, or back to `small`, by what the log shard holds. */
export async function nextMove(
  cluster: Cluster,
  small: string[],
  spare: string,
  shrinkByReverse: (jobId: string) => boolean,
): Promise<{ kind: 'reshard'; to: string[] } | { kind: 'reverse' }> {
  const large = [...small, spare].sort()
  const job = await cluster.reshardStatus()
  if (job !== undefined) {
    if (job.state === 'running' || job.state === 'cancelled') return { kind: 'reshard', to: job.to }
    if (job.state === 'reversing') return { kind: 'reverse' }
  }
  const routed = (await cluster.topology()).shards.map((s) => s.id).sort()
  const isLarge = routed.length === large.length && routed.every((id, i) => id === large[i])
  if (!isLarge) return { kind: 'reshard', to: large }
  // At the large set: undo the grow, by a reverse of the job that made it or a new job to the old set.
  if (job !== undefined && job.state === 'done' && shrinkByReverse(job.jobId)) return { kind: 'reverse' }
  return { kind: 'reshard', to: [...small] }
}

/** A short label for the figures (workers' and the mover's): a typed error's name, or an untyped one's name, code and message. */
export function describeFailure(error: unknown): string {
  if (error instanceof ShardTxError) return error.name
  if (!(error instanceof Error)) return typeof error
  const code = (error as { code?: unknown }).code
  // knex starts a failed query's message with its SQL: the statement says which call let it through.
  return `untyped ${error.name}[${typeof code === 'string' ? `${code}: ` : ''}${error.message.slice(0, 100)}]`
}

const plan = JSON.parse(process.env.SHARDTX_CHAOS_MOVER ?? 'null') as MoverPlan | null
if (plan !== null) await runMover(plan)

async function runMover(plan: MoverPlan): Promise<void> {
  if (process.send === undefined) {
    process.stderr.write('scripts/chaos/mover.ts is started by scripts/chaos.ts, with an IPC channel\n')
    process.exit(2)
  }
  const send = parentChannel<MoverMessage>()
  const cluster = createCluster({
    shards: plan.shards,
    log: plan.log,
    prefix: BANK.prefix,
    logTable: BANK.logTable,
    tables: BANK_TABLES,
    topology: 'follow',
    timeout: plan.timeoutMs,
    lockTimeout: plan.lockTimeoutMs,
    maxWait: plan.timeoutMs,
    connectTimeout: plan.timeoutMs,
    recovery: plan.recovery,
  })
  const random = new Prng(deriveSeed(plan.seed, 0x30, plan.incarnation))
  const controller = new AbortController()
  process.on('message', (message: { t?: string }) => {
    if (message?.t === 'stop') controller.abort()
  })
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      controller.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true })
    })
  send({ t: 'ready' })
  // Batches small enough that a job has several even over a small bank; a bounded batch,
  // so that a batch left prepared by a SIGKILL is judged abandoned soon.
  let last: { jobId: string; done: number } | undefined
  const options = {
    batchSize: 200,
    dutyCycle: 0.5,
    batchTimeoutMs: 5_000,
    timeoutMs: 10_000,
    signal: controller.signal,
    // The first report of a call is where the job stands; one whose `done` moved follows a batch.
    onProgress: (p: { jobId: string; done: number; total: number; state: string }) => {
      if (last !== undefined && last.jobId === p.jobId && last.done !== p.done) send({ t: 'batch', jobId: p.jobId, done: p.done, total: p.total, state: p.state })
      last = { jobId: p.jobId, done: p.done }
    },
  }
  while (!controller.signal.aborted) {
    try {
      // Every other shrink is a reverse: the job's id picks, so a restarted mover picks alike.
      const move = await nextMove(cluster, plan.small, plan.spare, (jobId) => parseInt(jobId.slice(-2), 16) % 2 === 0)
      const progress = move.kind === 'reverse' ? await cluster.reverseReshard(options) : await cluster.reshard(move.to.map((id) => ({ id })), options)
      if (progress.state === 'done' || progress.state === 'reversed') {
        send({ t: 'finished', jobId: progress.jobId, state: progress.state, to: progress.state === 'done' ? progress.to : progress.from })
        // The bank runs a while on the set it reached before the next job.
        await sleep(random.between(500, 3_000))
      }
    } catch (error) {
      send({ t: 'error', error: describeFailure(error) })
      await sleep(random.between(200, 1_000))
    }
  }
  await cluster.close().catch(() => {})
  process.send!({ t: 'stopped' } satisfies MoverMessage, () => process.exit(0))
}
