import { readdirSync, readFileSync } from 'node:fs'

/**
 * Pids of live (non-zombie) processes whose command line mentions `text`,
 * e.g. a cluster's temp dir: every server of a local cluster names its data
 * directory in its arguments. Linux only (reads /proc).
 *
 * ```ts
 * expect(processesMentioning('/tmp/shardtx-abc')).toEqual([])
 * ```
 */
export function processesMentioning(text: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry))
    } catch {
      // The process ended while we looked.
    }
  }
  return pids
}

/**
 * True when `pid` is a live process. A zombie counts as dead: here PID 1 may
 * never reap the orphans of a killed process, and `kill(pid, 0)` still
 * succeeds on those.
 *
 * ```ts
 * expect(processRunning(local.server('pg-0').pid!)).toBe(true)
 * ```
 */
export function processRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
  } catch {
    return false
  }
}
