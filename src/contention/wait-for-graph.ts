import type { LockWait } from '../protocol/participant.js'
import { parseWaitLabel } from './wait-label.js'

/** Transaction `waiter` waits on shard `shardId` for transaction `blocker`. */
export interface WaitEdge {
  waiter: string
  blocker: string
  shardId: string
}

/** Waits-for edges between transactions, by waiter. */
export type WaitForGraph = Map<string, WaitEdge[]>

/**
 * Builds the wait-for graph between shardtx transactions from each shard's
 * session-level lock waits. A session is mapped to its transaction by, in order:
 * the sessions this process's own transactions hold (`local`), a label the server
 * shows for that session, or a label seen anywhere that lists the session among
 * those its transaction holds. A wait whose two ends cannot both be mapped is no
 * edge: a session outside shardtx cannot be part of a cycle we may break.
 */
export function waitForGraph(
  waitsByShard: ReadonlyMap<string, readonly LockWait[]>,
  local: ReadonlyMap<string, ReadonlyMap<string, string>>,
): WaitForGraph {
  const known = new Map<string, Map<string, string>>()
  const learn = (shardId: string, session: string, txId: string): void => {
    let sessions = known.get(shardId)
    if (sessions === undefined) known.set(shardId, (sessions = new Map()))
    if (!sessions.has(session)) sessions.set(session, txId)
  }
  for (const [shardId, sessions] of local) for (const [session, txId] of sessions) learn(shardId, session, txId)
  for (const [shardId, waits] of waitsByShard) {
    for (const wait of waits) {
      for (const [session, text] of [[wait.waiter, wait.waiterText], [wait.blocker, wait.blockerText]] as const) {
        const label = parseWaitLabel(text)
        if (label === undefined) continue
        learn(shardId, session, label.txId)
        for (const held of label.sessions) learn(held.shardId, held.session, label.txId)
      }
    }
  }
  const graph: WaitForGraph = new Map()
  for (const [shardId, waits] of waitsByShard) {
    const sessions = known.get(shardId)
    for (const wait of waits) {
      const waiter = sessions?.get(wait.waiter)
      const blocker = sessions?.get(wait.blocker)
      if (waiter === undefined || blocker === undefined || waiter === blocker) continue
      if (shownOther(wait.waiterText, waiter) || shownOther(wait.blockerText, blocker)) continue
      let edges = graph.get(waiter)
      if (edges === undefined) graph.set(waiter, (edges = []))
      if (!edges.some((e) => e.blocker === blocker && e.shardId === shardId)) edges.push({ waiter, blocker, shardId })
    }
  }
  return graph
}

/**
 * The session shows the label of another transaction than the one that holds it
 * now: the row is a leftover of a wait that ended. A server's view can lag:
 * InnoDB refills the cache behind INNODB_TRX and INNODB_LOCK_WAITS only once it
 * has gone 100 ms unread: shardtx reads it in windows that leave it so
 * (adapters/mysql/innodb-view-window.ts), but a reader outside shardtx can keep it
 * showing ended waits, on sessions that other transactions hold by then. An edge
 * from such a row could close a false cycle.
 */
function shownOther(text: string | null, txId: string): boolean {
  const shown = parseWaitLabel(text)?.txId
  return shown !== undefined && shown !== txId
}
