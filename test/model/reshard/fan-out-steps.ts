import { KEY_NAMES, SHARD_NAMES, shardsOf, type ReshardScope } from './reshard-scope.js'
import { FAN_OUT_BIT, KEYS, appLocksRow, moverLocksRow, othersHoldFence, type FanOut, type ReshardState } from './reshard-state.js'
import { commitsBehindFence, loadSteps, refuses, type Add } from './writer-steps.js'

/**
 * A fan-out transaction: one statement without a key on every shard of its epoch's
 * set, in id order, a branch each. The router does not refuse it for a frozen batch.
 * Each branch takes the fence's shared lock NOWAIT (held to the transaction's end) and
 * is refused when the fence is ahead of its epoch.
 *
 * - A writer (`UPDATE t SET …`) updates the rows it sees there (PostgreSQL: the
 *   committed ones, waiting for the row locks on them; InnoDB: also waiting for an
 *   uncommitted insert's lock, then updating that row) and holds their locks to the
 *   end. A wait may time out: the transaction rolls back and runs again. Then PREPARE
 *   on every shard, and COMMIT PREPARED on every shard at once (the order of its own
 *   commits is not explored). Checked where it commits: it updated every key exactly
 *   once (not on no shard it visited, not on two), under an epoch not older than each
 *   shard's fence (but for the job start's raise).
 * - A reader (`SELECT … FROM t`) sees the committed rows there (a consistent read on
 *   both engines: no row lock, no wait) and ends when it has read every shard
 *   (read-only branches are never prepared). Checked where it ends: it saw every key
 *   exactly once (not missed, not double-counted).
 *
 * Not crashed by the failure budget.
 */
export function fanOutSteps(scope: ReshardScope, s: ReshardState, j: number, add: Add): void {
  const f = s.fanOuts[j]!
  const F = `F${j + 1}`
  const me = (n: ReshardState): FanOut => n.fanOuts[j]!
  switch (f.phase) {
    case 'idle':
      if (f.left > 0 && loadSteps(s, F, f.loaded, me, add)) statement(scope, s, j, f.loaded, 0, add)
      return
    case 'run':
      if (f.at < shardsOf(scope, f.epoch).length) statement(scope, s, j, f.epoch, f.at, add)
      else if (scope.fanOuts![j] === 'read') add(`${F}.end`, (n) => end(scope, n, j))
      else {
        add(`${F}.prepare(${shardsOf(scope, f.epoch).map((x) => SHARD_NAMES[x]).join(',')})`, (n) => {
          me(n).phase = 'prepared'
        })
      }
      return
    case 'prepared':
      add(`${F}.commit`, (n) => end(scope, n, j))
      return
    case 'done':
      return
  }
}

/** The statement on the `at`-th shard of the epoch's set (at 0 the transaction begins with it). */
function statement(scope: ReshardScope, s: ReshardState, j: number, epoch: number, at: number, add: Add): void {
  const F = `F${j + 1}`
  const shard = shardsOf(scope, epoch)[at]!
  const S = SHARD_NAMES[shard]
  const me = (n: ReshardState): FanOut => n.fanOuts[j]!
  const reads = scope.fanOuts![j] === 'read'
  const verb = reads ? 'read' : 'update'
  const rollBack = (label: string, reload: boolean): void => {
    // With no branch open yet, a retry changes nothing (and a refusal only makes it reload).
    if (at === 0 && !reload) return
    add(`${F}.${label} → roll back, ${reload ? 'reload' : 'retry'}`, (n) => {
      Object.assign(me(n), { phase: 'idle', at: 0, touched: 0, loaded: reload ? 0 : epoch })
    })
  }
  if (othersHoldFence(s, shard)) return rollBack(`${verb}(${S}): fence held, NOWAIT failed`, false)
  if (refuses(scope.bugs ?? {}, s.fence[shard]!, epoch)) return rollBack(`${verb}(${S}, epoch ${epoch}): refused, fence at ${s.fence[shard]}`, true)
  const mysql = scope.kinds[shard] === 'mysql'
  const keys = KEY_NAMES.map((_, k) => k)
  const seen = keys.filter((k) => s.rows[shard]![k]! >= 0)
  const waits = !reads && keys.some((k) => (seen.includes(k) || mysql) && (appLocksRow(scope, s, shard, k) || moverLocksRow(s, shard, k, 'write')))
  if (waits) return rollBack(`${verb}(${S}): lock wait timed out`, false)
  const rows = seen.map((k) => KEY_NAMES[k]).join(',') || 'no row'
  add(`${F}.${verb}(${S}, epoch ${epoch}): fence ${s.fence[shard]} passed; ${rows}`, (n) => {
    const ff = me(n)
    for (const k of seen) ff.touched |= 1 << (shard * KEYS + k)
    Object.assign(ff, { phase: 'run', epoch, at: at + 1 })
  })
}

/** A writer commits (its updates applied, then checked), a reader ends (what it saw checked). */
function end(scope: ReshardScope, n: ReshardState, j: number): void {
  const f = n.fanOuts[j]!
  const reads = scope.fanOuts![j] === 'read'
  const label = `F${j + 1}.${reads ? 'end' : 'commit'}`
  const bit = 1 << (FAN_OUT_BIT + j)
  if (!reads) for (const shard of shardsOf(scope, f.epoch)) commitsBehindFence(n, shard, f.epoch, label)
  KEY_NAMES.forEach((k, key) => {
    const on = [0, 1, 2].filter((shard) => (f.touched & (1 << (shard * KEYS + key))) !== 0)
    if (on.length !== 1 && n.violation === undefined) {
      const where = on.length === 0 ? 'on no shard: missed' : `on ${on.map((x) => SHARD_NAMES[x]).join(' and ')}: ${reads ? 'double-counted' : 'twice'}`
      n.violation = `${label}: its ${reads ? 'read' : 'update'} of every row (epoch ${f.epoch}) ${reads ? 'saw' : 'updated'} ${k} ${where}`
    }
    if (reads) return
    for (const shard of on) n.rows[shard]![key]! |= bit
    n.committedWrites[key]! |= bit
  })
  Object.assign(f, { phase: f.left > 1 ? 'idle' : 'done', left: f.left - 1, at: 0, touched: 0 })
}
