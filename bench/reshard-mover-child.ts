/**
 * The mover of `npm run bench -- --only reshard`, in a process of its own, as
 * `shardtx reshard start` runs it: its row scans and copies share the machine's
 * cores with the application but not the application's event loop. It answers
 * the requests of bench/reshard-mover.ts over IPC, one at a time.
 */
import { createCluster, type Cluster, type ClusterOptions } from '../src/index.js'
import type { MoverReply, MoverRequest } from './reshard-mover.js'

let mover: Cluster | undefined

process.on('disconnect', () => process.exit(0))
process.on('message', (request: MoverRequest) => {
  void answer(request).then((reply) => process.send!(reply))
})

async function answer(request: MoverRequest): Promise<MoverReply> {
  try {
    return { id: request.id, ok: true, value: await run(request) }
  } catch (error) {
    return { id: request.id, ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }
  }
}

async function run(request: MoverRequest): Promise<unknown> {
  switch (request.op) {
    case 'open':
      mover = createCluster(request.options as ClusterOptions)
      return null
    case 'reshard': {
      const began = performance.now()
      const progress = await mover!.reshard(request.target, { batchSize: request.batchSize })
      return { batches: progress.total, rowsMoved: progress.rowsMoved, ms: performance.now() - began }
    }
    case 'moveFor':
      return moveFor(request.ms, request.batchSize, request.dutyCycle, request.sets)
    case 'close':
      await mover?.close()
      return null
  }
}

/**
 * Runs the mover for about `ms` at `batchSize` and `dutyCycle`: a job in progress
 * is moved on, a finished one is followed by a new one to the other of the two
 * sets (never a reverse), so the moves never run out. Stops at a batch boundary once `ms` has passed.
 */
async function moveFor(ms: number, batchSize: number, dutyCycle: number, [small, large]: [string[], string[]]): Promise<{ steps: number[]; rows: number; batches: number; jobs: number; ms: number }> {
  const cluster = mover!
  const steps: number[] = []
  let rows = 0
  let batches = 0
  let jobs = 0
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), ms)
  const began = performance.now()
  try {
    while (!controller.signal.aborted) {
      const status = await cluster.reshardStatus()
      const routed = (await cluster.topology()).shards.length
      const target = status?.state === 'running' ? status.to : routed === large.length ? small : large
      // The first report is where the job stands; each later one follows a batch.
      let seen: number | undefined
      let last = performance.now()
      const progress = await cluster.reshard(
        target.map((id) => ({ id })),
        {
          batchSize,
          dutyCycle,
          signal: controller.signal,
          onProgress: (p) => {
            const now = performance.now()
            if (seen !== undefined) {
              // A batch's working time (its freeze and its move): the gap minus the pause after it.
              steps.push((now - last) * dutyCycle)
              batches++
              rows += p.rowsMoved - seen
            }
            seen = p.rowsMoved
            last = now
          },
        },
      )
      if (progress.state === 'done' || progress.state === 'reversed') jobs++
    }
  } finally {
    clearTimeout(timer)
  }
  return { steps, rows, batches, jobs, ms: performance.now() - began }
}

