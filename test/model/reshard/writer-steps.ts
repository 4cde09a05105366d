import { KEY_NAMES, SHARD_NAMES, route, type ReshardBugs, type ReshardScope } from './reshard-scope.js'
import { moverHoldsFence, moverLocksRow, owner, writerLocksRow, type ReshardState, type Writer } from './reshard-state.js'

export type Add = (label: string, change: (n: ReshardState) => void) => void

/** Does the shard refuse a branch routed by `epoch`? The protocol: iff its fence is ahead of the epoch, or it has no fence row. */
export function refuses(bugs: ReshardBugs, fence: number, epoch: number): boolean {
  if (fence === 0) return true
  if (bugs.neverRefuse) return false
  if (bugs.refuseOnlyTwoBehind) return fence > epoch + 1
  return fence > epoch
}

/**
 * A writer's transaction writes (upserts) its key on the shard its epoch routes it
 * to, in one branch, committed by two-phase commit. The invariant "no write applied
 * at a shard that is not the key's owner" is checked where it commits.
 */
export function writerSteps(scope: ReshardScope, s: ReshardState, i: number, add: Add): void {
  const w = s.writers[i]!
  const key = scope.writers[i]!.key
  const name = `W${i + 1}`
  const me = (n: ReshardState): Writer => n.writers[i]!
  const bugs = scope.bugs ?? {}
  switch (w.phase) {
    case 'idle': {
      if (w.left === 0) return
      if (w.loaded === 0) {
        add(`${name}.loadTopology → epoch ${s.published}`, (n) => {
          me(n).loaded = n.published
        })
        return
      }
      if (w.loaded !== s.published) {
        // A process that starts now (or restarts) loads the published topology without being refused first.
        add(`${name}.restart: loadTopology → epoch ${s.published}`, (n) => {
          me(n).loaded = n.published
        })
      }
      const shard = route(scope, key, s.epochDone[w.loaded]!)
      const where = `${name}.begin(${SHARD_NAMES[shard]}, ${KEY_NAMES[key]}, epoch ${w.loaded})`
      // NOWAIT: while a mover holds (or waits for) the fence the branch fails at once, retryably: no state change.
      if (moverHoldsFence(s, shard)) return
      if (refuses(bugs, s.fence[shard]!, w.loaded)) {
        add(`${where}: refused, fence at ${s.fence[shard]} → reload`, (n) => {
          me(n).loaded = 0
        })
        return
      }
      // The upsert waits for a row lock held by someone else (bounded; a timeout is a retry: no state change).
      if (writerLocksRow(scope, s, shard, key, i) || moverLocksRow(s, shard, key)) return
      add(`${where}: fence ${s.fence[shard]} passed; upsert`, (n) => {
        Object.assign(me(n), { phase: 'open', epoch: w.loaded, shard })
      })
      return
    }
    case 'open':
      add(`${name}.prepare(${SHARD_NAMES[w.shard]})${scope.kinds[w.shard] === 'mysql' ? ': its shared fence lock is released' : ''}`, (n) => {
        me(n).phase = 'prepared'
      })
      if (s.failuresLeft > 0) {
        add(`${name}.crash: open branch rolled back`, (n) => {
          n.failuresLeft--
          Object.assign(me(n), { phase: 'idle', left: w.left - 1 })
        })
      }
      return
    case 'prepared':
      add(`${name}.commit(${SHARD_NAMES[w.shard]})${late(s, w)}`, (n) => commitWrite(scope, n, i, `${name}.commit(${SHARD_NAMES[w.shard]})`))
      if (s.failuresLeft > 0) {
        add(`${name}.crash after PREPARE: in doubt`, (n) => {
          n.failuresLeft--
          me(n).phase = 'in-doubt'
        })
      }
      return
    case 'in-doubt':
      add(`recover(${name}): COMMIT PREPARED on ${SHARD_NAMES[w.shard]}${late(s, w)}`, (n) => {
        commitWrite(scope, n, i, `recover(${name}): COMMIT PREPARED on ${SHARD_NAMES[w.shard]}`)
        Object.assign(me(n), { phase: 'done', left: 0 })
      })
      add(`recover(${name}): ROLLBACK PREPARED on ${SHARD_NAMES[w.shard]}`, (n) => {
        Object.assign(me(n), { phase: 'done', left: 0 })
      })
      return
    case 'done':
      return
  }
}

/** A write that commits after its shard's fence rose past its epoch (its branch passed the fence before): allowed, if the shard still owns the key. */
const late = (s: ReshardState, w: Writer): string => (s.fence[w.shard]! > w.epoch ? ` after its fence rose to ${s.fence[w.shard]}` : '')

function commitWrite(scope: ReshardScope, n: ReshardState, i: number, label: string): void {
  const w = n.writers[i]!
  const key = scope.writers[i]!.key
  const belongs = owner(scope, n, key)
  if (belongs !== w.shard && n.violation === undefined) {
    n.violation =
      `${label}: a write of ${KEY_NAMES[key]} under epoch ${w.epoch} applied on ${SHARD_NAMES[w.shard]}, ` +
      `but its owner at epoch ${n.published} is ${SHARD_NAMES[belongs]}`
  }
  const row = n.rows[w.shard]!
  row[key] = Math.max(row[key]!, 0) | (1 << i)
  n.committedWrites[key]! |= 1 << i
  Object.assign(w, { phase: w.left > 1 ? 'idle' : 'done', left: w.left - 1 })
}
