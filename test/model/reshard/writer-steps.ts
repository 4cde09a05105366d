import { KEY_NAMES, SHARD_NAMES, route, type ReshardBugs, type ReshardScope } from './reshard-scope.js'
import { JOB_START_EPOCH, frozenFor, moverLocksRow, othersHoldFence, owner, appLocksRow, type ReshardState, type Writer } from './reshard-state.js'

export type Add = (label: string, change: (n: ReshardState) => void) => void

/** Does the shard refuse a branch routed by `epoch`? The protocol: iff its fence is ahead of the epoch, or it has no fence row. */
export function refuses(bugs: ReshardBugs, fence: number, epoch: number): boolean {
  if (fence === 0) return true
  if (bugs.neverRefuse) return false
  if (bugs.refuseOnlyTwoBehind) return fence > epoch + 1
  return fence > epoch
}

/**
 * A writer's transaction updates its key's row (reads it and writes it back with its
 * own write added) on the shard its epoch routes it to, in one branch, committed by
 * two-phase commit. A key of the batch its epoch says is moving is refused by the
 * router, in the client, before any branch opens (KeyMovingError: reload, retry).
 * Checked where the statement runs: the row is there (on PostgreSQL a row a prepared
 * branch inserted is invisible to an UPDATE, which hits 0 rows; InnoDB's UPDATE waits
 * for its lock). Checked where it commits: the shard owns the key, and its fence is
 * not ahead of the write's epoch (but for the job start's raise, which moves nothing
 * and does not drain MariaDB's prepared branches).
 */
export function writerSteps(scope: ReshardScope, s: ReshardState, i: number, add: Add): void {
  const w = s.writers[i]!
  const key = scope.writers[i]!.key
  const name = `W${i + 1}`
  const me = (n: ReshardState): Writer => n.writers[i]!
  const bugs = scope.bugs ?? {}
  switch (w.phase) {
    case 'idle': {
      if (w.left === 0 || !loadSteps(s, name, w.loaded, me, add)) return
      const frozen = frozenFor(scope, s, w.loaded, key)
      if (frozen >= 0 && !bugs.routerIgnoresFrozen) {
        add(`${name}.route(${KEY_NAMES[key]}, epoch ${w.loaded}): batch ${frozen + 1} moving, refused in the client → reload`, (n) => {
          me(n).loaded = 0
        })
        return
      }
      const shard = route(scope, key, s.epochDone[w.loaded]!)
      const where = `${name}.begin(${SHARD_NAMES[shard]}, ${KEY_NAMES[key]}, epoch ${w.loaded})${frozen >= 0 ? ' (frozen key, seeded bug)' : ''}`
      // NOWAIT: while a mover holds (or waits for) the fence the branch fails at once, retryably: no state change.
      if (othersHoldFence(s, shard)) return
      if (refuses(bugs, s.fence[shard]!, w.loaded)) {
        add(`${where}: refused, fence at ${s.fence[shard]} → reload`, (n) => {
          me(n).loaded = 0
        })
        return
      }
      const locked = appLocksRow(scope, s, shard, key, i) || moverLocksRow(s, shard, key)
      if (s.rows[shard]![key]! < 0 && !(locked && scope.kinds[shard] === 'mysql')) {
        add(`${where}: fence ${s.fence[shard]} passed; update hits 0 rows`, (n) => {
          n.violation ??= `${where}: the update finds no row of ${KEY_NAMES[key]} on ${SHARD_NAMES[shard]}, which owns it under epoch ${w.loaded}${
            moverLocksRow(s, shard, key) ? ' (a mover\'s uncommitted insert there is invisible to it)' : ''
          }`
        })
        return
      }
      // The update waits for a row lock held by someone else (bounded; a timeout is a retry: no state change).
      if (locked) return
      add(`${where}: fence ${s.fence[shard]} passed; update`, (n) => {
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

/**
 * A process between transactions: one that must reload (refused) loads the published
 * topology, and can go on only after; any other may restart at any time, loading the
 * published topology without being refused first. Returns whether it can go on now.
 */
export function loadSteps(s: ReshardState, name: string, loaded: number, me: (n: ReshardState) => { loaded: number }, add: Add): boolean {
  if (loaded === 0) {
    add(`${name}.loadTopology → epoch ${s.published}`, (n) => {
      me(n).loaded = n.published
    })
    return false
  }
  if (loaded !== s.published) {
    add(`${name}.restart: loadTopology → epoch ${s.published}`, (n) => {
      me(n).loaded = n.published
    })
  }
  return true
}

/** A commit under an epoch older than the shard's fence: a violation, unless the fence is the job start's (it moves no slot, and does not drain). */
export function commitsBehindFence(n: ReshardState, shard: number, epoch: number, label: string): void {
  const fence = n.fence[shard]!
  if (fence > epoch && fence !== JOB_START_EPOCH && n.violation === undefined) {
    n.violation = `${label}: a write under epoch ${epoch} commits on ${SHARD_NAMES[shard]}, whose fence is at ${fence}`
  }
}

/** A write that commits after its shard's fence rose past its epoch (its branch passed the fence before): allowed only past the job start's raise, if the shard still owns the key. */
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
  commitsBehindFence(n, w.shard, w.epoch, `${label}, ${KEY_NAMES[key]}`)
  const row = n.rows[w.shard]!
  row[key] = Math.max(row[key]!, 0) | (1 << i)
  n.committedWrites[key]! |= 1 << i
  Object.assign(w, { phase: w.left > 1 ? 'idle' : 'done', left: w.left - 1 })
}
