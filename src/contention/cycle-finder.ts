import { youngest } from './victim-choice.js'
import type { WaitEdge, WaitForGraph } from './wait-for-graph.js'

/** A deadlock to break: its victim and one cycle through it, as the waits that close it. */
export interface Deadlock {
  victim: string
  cycle: WaitEdge[]
}

/**
 * The victims that leave `graph` without a cycle: in each strongly connected
 * component with more than one transaction, the youngest falls, and the rest of
 * the component is searched again. The result depends only on the graph, never
 * on the order it was built in, so detectors in several processes that read the
 * same waits choose the same victims, and each aborts only its own.
 */
export function findDeadlocks(graph: WaitForGraph): Deadlock[] {
  const deadlocks: Deadlock[] = []
  const pending = components(graph, new Set(graph.keys()))
  while (pending.length > 0) {
    const members = pending.pop()!
    const victim = youngest(members)
    deadlocks.push({ victim, cycle: cycleThrough(graph, victim, members) })
    members.delete(victim)
    pending.push(...components(graph, members))
  }
  return deadlocks
}

/** Strongly connected components of the subgraph on `nodes` that can hold a cycle (Tarjan). */
function components(graph: WaitForGraph, nodes: ReadonlySet<string>): Set<string>[] {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: Set<string>[] = []
  let next = 0
  const visit = (node: string): void => {
    index.set(node, next)
    low.set(node, next++)
    stack.push(node)
    onStack.add(node)
    for (const { blocker } of graph.get(node) ?? []) {
      if (!nodes.has(blocker)) continue
      if (!index.has(blocker)) {
        visit(blocker)
        low.set(node, Math.min(low.get(node)!, low.get(blocker)!))
      } else if (onStack.has(blocker)) {
        low.set(node, Math.min(low.get(node)!, index.get(blocker)!))
      }
    }
    if (low.get(node) !== index.get(node)) return
    const component = new Set<string>()
    for (;;) {
      const member = stack.pop()!
      onStack.delete(member)
      component.add(member)
      if (member === node) break
    }
    if (component.size > 1) found.push(component)
  }
  for (const node of [...nodes].sort()) if (!index.has(node)) visit(node)
  return found
}

/** A shortest cycle from `start` back to itself inside `members` (breadth first). */
function cycleThrough(graph: WaitForGraph, start: string, members: ReadonlySet<string>): WaitEdge[] {
  const via = new Map<string, WaitEdge>()
  const queue = [start]
  for (let i = 0; i < queue.length; i++) {
    for (const edge of graph.get(queue[i]!) ?? []) {
      if (!members.has(edge.blocker)) continue
      if (edge.blocker === start) {
        const cycle = [edge]
        for (let at = edge.waiter; at !== start; at = via.get(at)!.waiter) cycle.unshift(via.get(at)!)
        return cycle
      }
      if (via.has(edge.blocker)) continue
      via.set(edge.blocker, edge)
      queue.push(edge.blocker)
    }
  }
  return []
}
