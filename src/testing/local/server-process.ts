import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync, statSync } from 'node:fs'
import { LocalClusterError } from '../local-cluster-errors.js'
import { pollUntil } from '../poll-until.js'
import { logExcerpt } from './log-excerpt.js'
import { killProcessGroup, processGroupAlive } from './process-group.js'
import type { RunAs } from './run-as.js'

/**
 * How to launch one server program.
 */
export interface ServerCommand {
  command: string
  args: readonly string[]
  cwd: string
  /** stdout and stderr are appended here; failures quote its tail. */
  logFile: string
  runAs: RunAs
}

/**
 * One long-running server program started in its own process group, so a
 * kill reaches the processes it forks and a terminal's Ctrl-C does not reach
 * it behind our back (the exit cleanup decides). Knows nothing about SQL.
 */
export class ServerProcess {
  #child: ChildProcess | undefined
  #exited: Promise<void> = Promise.resolve()
  #logOffset = 0
  #logFile = ''

  /** The running server's pid, also its process group id. */
  get pid(): number | undefined {
    return this.#child?.pid
  }

  get running(): boolean {
    return this.#child !== undefined
  }

  spawn(command: ServerCommand): void {
    if (this.#child) throw new Error(`${command.command} is already running`)
    this.#logFile = command.logFile
    const log = openSync(command.logFile, 'a')
    this.#logOffset = statSync(command.logFile).size
    try {
      const child = spawn(command.command, command.args, {
        cwd: command.cwd,
        detached: true,
        stdio: ['ignore', log, log],
        env: serverEnv(),
        ...(command.runAs ?? {}),
      })
      // Unreferenced, a running server does not keep this process alive;
      // kill and terminate reference it again while they wait for its exit.
      child.unref()
      this.#child = child
      this.#exited = new Promise((resolve) => {
        const done = (): void => {
          if (this.#child === child) this.#child = undefined
          resolve()
        }
        child.once('exit', done)
        child.once('error', done)
      })
    } finally {
      closeSync(log)
    }
  }

  /**
   * Waits until `ready` returns true; throws a start error quoting the log
   * when the process exits first or `timeoutMs` passes.
   */
  async waitUntilReady(what: string, ready: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
    await pollUntil(
      async () => {
        if (!this.#child) throw this.startError(`${what} exited during start-up`)
        return ready()
      },
      { timeoutMs, onTimeout: () => this.startError(`${what} did not accept connections within ${timeoutMs / 1000} s`) },
    )
  }

  /** The log written since the last spawn. */
  logSinceSpawn(): string {
    try {
      return readFileSync(this.#logFile, 'utf8').slice(this.#logOffset)
    } catch {
      return ''
    }
  }

  startError(problem: string): LocalClusterError {
    return new LocalClusterError('LOCAL_CLUSTER_START', `${problem}; log ${this.#logFile}:\n${logExcerpt(this.logSinceSpawn())}`)
  }

  /** SIGKILLs the whole process group and resolves once none of it runs. */
  async kill(): Promise<void> {
    const pid = this.#child?.pid
    if (pid === undefined) return
    this.#child?.ref()
    killProcessGroup(pid)
    await this.#exited
    await pollUntil(() => !processGroupAlive(pid), {
      timeoutMs: 30_000,
      onTimeout: () => new LocalClusterError('LOCAL_CLUSTER_START', `processes of group ${pid} survived SIGKILL`),
    })
  }

  /** Sends `signal` to the server alone and waits for it to exit; SIGKILLs it after `timeoutMs`. */
  async terminate(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const pid = this.#child?.pid
    if (pid === undefined) return
    this.#child?.ref()
    process.kill(pid, signal)
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs)
    })
    const slow = await Promise.race([this.#exited.then(() => false), timedOut])
    clearTimeout(timer)
    if (slow) await this.kill()
    else await pollUntil(() => !processGroupAlive(pid), { timeoutMs: 30_000, onTimeout: () => this.startError('stop left processes behind') })
  }

  /** For exit handlers: SIGKILLs the group without waiting. */
  killSync(): void {
    const pid = this.#child?.pid
    if (pid !== undefined) killProcessGroup(pid)
  }
}

/**
 * A clean environment: inherited PGDATA, PGPORT, MYSQL_HOME or locale
 * variables would otherwise change how the servers start.
 */
function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' }
}
