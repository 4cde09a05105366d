import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

/**
 * Runs `script` in a child process (under tsx) with `plan` as JSON in the
 * environment variable `envName`, until it prints `PAUSED` at its crash point;
 * then SIGKILLs it. Resolves when it has exited, with whether it was killed and
 * every line it printed. With `giveUpMs`, a child still running by then without
 * having paused (a crash point it never reaches, paused at a step whose `after`
 * never comes) is SIGKILLed too, with `killed` false and a last line saying so:
 * a wrong plan fails its case with the child's output instead of hanging the file.
 */
export function crashChild(script: string, envName: string, plan: unknown, giveUpMs?: number): Promise<{ killed: boolean; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, [envName]: JSON.stringify(plan) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines: string[] = []
  let killed = false
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line)
    if (line === 'PAUSED' && !killed) {
      killed = true
      child.kill('SIGKILL')
    }
  })
  const giveUp =
    giveUpMs === undefined
      ? undefined
      : setTimeout(() => {
          lines.push(`GAVE UP after ${giveUpMs} ms without a pause`)
          child.kill('SIGKILL')
        }, giveUpMs)
  return new Promise((resolve) =>
    child.on('exit', () => {
      clearTimeout(giveUp)
      resolve({ killed, lines })
    }),
  )
}
