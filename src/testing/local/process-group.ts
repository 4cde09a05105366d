import { readdirSync, readFileSync } from 'node:fs'

/**
 * Sends SIGKILL to every process in the group led by `pgid`: a server and
 * the backends it forked die together, as in a machine crash. A group that
 * is already gone is fine.
 */
export function killProcessGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

/**
 * True while some process of group `pgid` is still alive. Zombies count as
 * gone: the orphaned children of a killed server are reparented to PID 1,
 * which may never reap them, yet they hold no memory, ports or files.
 */
export function processGroupAlive(pgid: number): boolean {
  if (process.platform !== 'linux') return signalReaches(-pgid)
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readStat(entry)
    if (stat && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') return true
  }
  return false
}

function readStat(pid: string): { state: string; pgrp: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // "pid (comm) state ppid pgrp …"; comm may contain spaces and parentheses.
    const [state, , pgrp] = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return state === undefined || pgrp === undefined ? undefined : { state, pgrp: Number(pgrp) }
  } catch {
    return undefined
  }
}

function signalReaches(target: number): boolean {
  try {
    process.kill(target, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
