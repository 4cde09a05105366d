import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { expect, onTestFinished, test } from 'vitest'
import { processesMentioning, processRunning } from '../support/process-traces.js'

// A test run that ends without destroy() (a crashed test, vitest ending its
// fork workers with SIGTERM) must not leave servers or files behind.

const fixture = fileURLToPath(new URL('./fixtures/start-cluster-then.ts', import.meta.url))

async function startChild(mode: 'exit' | 'wait', options: object) {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, mode, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  onTestFinished(() => {
    child.kill('SIGTERM')
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  await Promise.race([
    once(child.stdout, 'end'),
    (async () => {
      while (!output.includes('\n')) await new Promise((resolve) => setTimeout(resolve, 20))
    })(),
  ])
  const started = JSON.parse(output.split('\n')[0]!) as { root: string; pids: number[] }
  return { child, exited, ...started }
}

test('SIGTERM, as vitest sends to its workers, kills the servers and removes the dir', async () => {
  const { child, exited, root, pids } = await startChild('wait', { postgres: 1, durable: false })
  expect(existsSync(root)).toBe(true)
  expect(processesMentioning(root).length).toBeGreaterThan(0)

  child.kill('SIGTERM')
  const [code, signal] = await exited
  // The handler re-raises the signal, so the process still dies of it.
  expect({ code, signal }).toEqual({ code: null, signal: 'SIGTERM' })
  expect(existsSync(root)).toBe(false)
  expect(processesMentioning(root)).toEqual([])
  for (const pid of pids) expect(processRunning(pid)).toBe(false)
})

test('a process that simply ends kills its servers and removes the dir on exit', async () => {
  const { exited, root } = await startChild('exit', { mysql: 1, durable: false })
  const [code] = await exited
  expect(code).toBe(0)
  expect(existsSync(root)).toBe(false)
  expect(processesMentioning(root)).toEqual([])
})
