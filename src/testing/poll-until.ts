import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Calls `check` every `intervalMs` until it returns true; throws what
 * `onTimeout` builds when `timeoutMs` passes first. An error thrown by `check`
 * ends the wait at once.
 */
export async function pollUntil(
  check: () => boolean | Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; onTimeout: () => Error },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() >= deadline) throw options.onTimeout()
    await sleep(options.intervalMs ?? 20)
  }
}
