/**
 * A lock on the log shard that every process of a cluster names alike, held on a
 * session of its own outside the pools (the lane, docs/deadlocks.md): PostgreSQL's
 * session advisory lock, MariaDB's `GET_LOCK`. Implemented in `adapters/<dialect>/`.
 * Only a throttle: nothing is safe or unsafe because of it, so every failure of it
 * means "run without it".
 */
export interface LaneLock {
  /**
   * True once held; false when another session held it for all of `waitMs`.
   * Rejects when the session failed (it is closed then; the next call opens another).
   */
  acquire(waitMs: number): Promise<boolean>
  /** Gives it back without waiting for the answer; a failure closes the session, which the server takes as giving it back. */
  release(): void
  /** Closes the session (the server releases the lock with it); a pending acquire rejects. */
  close(): Promise<void>
}
