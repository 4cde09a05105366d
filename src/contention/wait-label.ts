/** A server session a transaction holds on one shard (pg backend pid, MySQL thread id). */
export interface HeldSession {
  shardId: string
  session: string
}

/**
 * What a transaction leaves where other sessions can see it, so that a detector
 * in any process can map server sessions to shardtx transactions: its id, and the
 * sessions it holds on shards whose idle sessions show no label (MariaDB: an idle
 * session's `trx_query` is NULL). Text: `stx:<txId> <shard>=<session>,…`, made of
 * `[0-9a-z]`, shard-id characters, digits, `:`, `=`, `,` and one space, so it is
 * safe inside a SQL comment and a string literal.
 *
 * A transaction makes a new label only when it opens such a session; adapters
 * compare labels by identity to know when one must be sent again.
 */
export interface WaitLabel {
  readonly txId: string
  readonly sessions: readonly HeldSession[]
  /** The whole label text. */
  readonly text: string
}

const PREFIX = 'stx:'
const LABEL_PATTERN = /stx:([0-9a-z]{20})(?: ([A-Za-z0-9_-]+=[0-9]+(?:,[A-Za-z0-9_-]+=[0-9]+)*))?/

export function waitLabel(txId: string, sessions: readonly HeldSession[]): WaitLabel {
  return { txId, sessions, text: labelText(txId, sessions) }
}

/**
 * The label as text of at most `maxLength` characters: sessions that do not fit
 * are left out whole (PostgreSQL keeps 63 bytes of `application_name`).
 */
export function labelText(txId: string, sessions: readonly HeldSession[], maxLength = Infinity): string {
  let text = PREFIX + txId
  let separator = ' '
  for (const { shardId, session } of sessions) {
    const entry = `${separator}${shardId}=${session}`
    if (text.length + entry.length > maxLength) break
    text += entry
    separator = ','
  }
  return text
}

/**
 * Finds a label anywhere in `text` (a statement with its leading comment, an
 * `application_name`); undefined when there is none.
 */
export function parseWaitLabel(text: string | null | undefined): { txId: string; sessions: HeldSession[] } | undefined {
  if (typeof text !== 'string') return undefined
  const match = LABEL_PATTERN.exec(text)
  if (match === null) return undefined
  const sessions: HeldSession[] = []
  for (const entry of match[2]?.split(',') ?? []) {
    const at = entry.lastIndexOf('=')
    sessions.push({ shardId: entry.slice(0, at), session: entry.slice(at + 1) })
  }
  return { txId: match[1]!, sessions }
}
