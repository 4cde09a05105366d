import { randomBytes } from 'node:crypto'

/**
 * A transaction id: 20 characters of `[0-9a-z]`, made of
 * - the coordinator's start time in ms, base 36, 9 characters,
 * - its timeout in whole seconds, base 36, 3 characters (at most 46655 s ≈ 13 h),
 * - 8 random base-36 characters.
 *
 * Why the timeout rides in the id: MySQL's `XA RECOVER` gives no timestamp, so a
 * recoverer can only tell a branch whose coordinator may still decide from an
 * abandoned one by reading the coordinator's own deadline out of the id.
 */
export type TransactionId = string

export const TRANSACTION_ID_LENGTH = 20
/** The longest timeout a transaction id can carry. */
export const MAX_TIMEOUT_MS = (36 ** 3 - 1) * 1000

const RANDOM_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'
const TRANSACTION_ID_PATTERN = /^[0-9a-z]{20}$/

/** Random characters are drawn from a buffer refilled in bulk: one syscall per 512 ids. */
let randomPool = Buffer.alloc(0)
let randomOffset = 0

function randomChars(count: number): string {
  if (randomOffset + count > randomPool.length) {
    randomPool = randomBytes(4096)
    randomOffset = 0
  }
  let out = ''
  for (let i = 0; i < count; i++) {
    // 252 = 7 * 36: bytes from 252 up would bias the alphabet, so fold them in a second pass.
    let byte = randomPool[randomOffset++]!
    while (byte >= 252) {
      if (randomOffset >= randomPool.length) {
        randomPool = randomBytes(4096)
        randomOffset = 0
      }
      byte = randomPool[randomOffset++]!
    }
    out += RANDOM_ALPHABET[byte % 36]
  }
  return out
}

/** Makes a new transaction id for a coordinator that started at `startedAt` with `timeoutMs`. */
export function newTransactionId(startedAt: number, timeoutMs: number): TransactionId {
  const seconds = Math.min(Math.ceil(timeoutMs / 1000), 36 ** 3 - 1)
  return startedAt.toString(36).padStart(9, '0') + seconds.toString(36).padStart(3, '0') + randomChars(8)
}

/** What a transaction id tells about its coordinator. */
export interface TransactionIdInfo {
  startedAt: number
  timeoutMs: number
  /** After this instant the coordinator never decides commit. */
  deadline: number
}

/** Reads a transaction id, or returns undefined when the text is not one of ours. */
export function parseTransactionId(id: string): TransactionIdInfo | undefined {
  if (!TRANSACTION_ID_PATTERN.test(id)) return undefined
  const startedAt = parseInt(id.slice(0, 9), 36)
  const timeoutMs = parseInt(id.slice(9, 12), 36) * 1000
  return { startedAt, timeoutMs, deadline: startedAt + timeoutMs }
}
