import { readdirSync, readFileSync } from 'node:fs'
import type { LocalCluster } from '../src/testing/index.js'

/** The kernel counts CPU time in clock ticks of 10 ms (USER_HZ = 100 on Linux). */
const TICK_MS = 10

interface ProcStat {
  ppid: number
  /** utime + stime, and cutime + cstime (children it waited for), in ticks. */
  own: number
  reaped: number
}

function statOf(pid: string): ProcStat | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return { ppid: Number(fields[1]), own: Number(fields[11]) + Number(fields[12]), reaped: Number(fields[13]) + Number(fields[14]) }
  } catch {
    return undefined // gone meanwhile
  }
}

/**
 * CPU time (user + system, in ms) used so far by the processes `roots` and all
 * their descendants, from /proc: a PostgreSQL server's postmaster and its
 * backends, a mariadbd. A process that exited counts through its parent's
 * cutime (which holds its waited-for children's, recursively), so summing each
 * living process's own and reaped time counts everyone once. `undefined` where
 * there is no /proc (not Linux) or no root is known.
 */
export function processTreeCpuMs(roots: readonly (number | undefined)[]): number | undefined {
  const known = roots.filter((pid): pid is number => pid !== undefined)
  let entries: string[]
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name))
  } catch {
    return undefined
  }
  if (known.length === 0) return undefined
  const stats = new Map<number, ProcStat>()
  for (const pid of entries) {
    const stat = statOf(pid)
    if (stat !== undefined) stats.set(Number(pid), stat)
  }
  const inTree = new Set(known)
  // Descendants: repeat until no process joins (a tree is a few levels deep).
  for (let grew = true; grew; ) {
    grew = false
    for (const [pid, stat] of stats) {
      if (!inTree.has(pid) && inTree.has(stat.ppid)) {
        inTree.add(pid)
        grew = true
      }
    }
  }
  let ticks = 0
  for (const pid of inTree) {
    const stat = stats.get(pid)
    if (stat !== undefined) ticks += stat.own + stat.reaped
  }
  return ticks * TICK_MS
}

/** Reads the CPU time (ms) used so far by the servers of `local` that hold `shardIds` (one server may hold several). */
export function serversCpuOf(local: LocalCluster, shardIds: readonly string[]): () => number | undefined {
  const servers = [...new Set(shardIds.map((id) => local.server(id).pid))]
  return () => processTreeCpuMs(servers)
}
