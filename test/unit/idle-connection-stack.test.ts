import { afterEach, describe, expect, it, vi } from 'vitest'
import { type BackingPool, IdleConnectionStack, STACK_IDLE_MS } from '../../adapters/shared/idle-connection-stack.js'

interface Conn {
  id: number
  broken?: boolean
}

/** A pool that records what it hands out and gets back. */
function fakePool(): BackingPool<Conn> & { released: Conn[]; acquired: number; waiters: number } {
  let next = 1
  const pool = {
    released: [] as Conn[],
    acquired: 0,
    waiters: 0,
    acquire: async () => {
      pool.acquired++
      return { id: next++ }
    },
    release: (conn: Conn) => void pool.released.push(conn),
    waiting: () => pool.waiters,
    reusable: (conn: Conn) => conn.broken !== true,
  }
  return pool
}

afterEach(() => {
  vi.useRealTimers()
})

describe('the idle-connection stack', () => {
  it('hands the connection given back last out again, without asking the pool', async () => {
    const pool = fakePool()
    const stack = new IdleConnectionStack(pool)
    const [a, b] = [await stack.acquire(), await stack.acquire()]
    stack.release(a)
    stack.release(b)
    expect(await stack.acquire()).toBe(b)
    expect(await stack.acquire()).toBe(a)
    expect(pool.acquired).toBe(2)
    expect(pool.released).toEqual([])
    stack.close()
  })

  it('gives a connection to the pool while an acquire waits there', async () => {
    const pool = fakePool()
    const stack = new IdleConnectionStack(pool)
    const a = await stack.acquire()
    pool.waiters = 1
    stack.release(a)
    expect(pool.released).toEqual([a])
    expect(stack.size).toBe(0)
  })

  it('never hands out a connection that fails the pool check: it goes back to the pool', async () => {
    const pool = fakePool()
    const stack = new IdleConnectionStack(pool)
    const a = await stack.acquire()
    const b = await stack.acquire()
    a.broken = true
    stack.release(a)
    expect(pool.released).toEqual([a])
    stack.release(b)
    b.broken = true // broke while idle (the server closed it)
    const c = await stack.acquire()
    expect(c).not.toBe(b)
    expect(pool.released).toEqual([a, b])
    stack.close()
  })

  it('keeps a connection given back twice once', async () => {
    const pool = fakePool()
    const stack = new IdleConnectionStack(pool)
    const a = await stack.acquire()
    stack.release(a)
    stack.release(a)
    expect(stack.size).toBe(1)
    expect(await stack.acquire()).toBe(a)
    expect(await stack.acquire()).not.toBe(a)
    stack.close()
  })

  it('gives connections idle for STACK_IDLE_MS back to the pool, oldest first, and stops sweeping when empty', async () => {
    vi.useFakeTimers()
    const pool = fakePool()
    const stack = new IdleConnectionStack(pool)
    const [a, b] = [await stack.acquire(), await stack.acquire()]
    stack.release(a)
    await vi.advanceTimersByTimeAsync(STACK_IDLE_MS / 2)
    stack.release(b)
    await vi.advanceTimersByTimeAsync(STACK_IDLE_MS / 2)
    expect(pool.released).toEqual([a])
    expect(stack.size).toBe(1)
    await vi.advanceTimersByTimeAsync(STACK_IDLE_MS)
    expect(pool.released).toEqual([a, b])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('on close gives every idle connection to the pool, and later ones go straight there', async () => {
    const pool = fakePool()
    const stack = new IdleConnectionStack(pool)
    const [a, b] = [await stack.acquire(), await stack.acquire()]
    stack.release(a)
    stack.close()
    expect(pool.released).toEqual([a])
    stack.release(b)
    expect(pool.released).toEqual([a, b])
    expect(stack.size).toBe(0)
  })

  it('asks the pool when it holds nothing, so the pool bounds the wait', async () => {
    const pool = fakePool()
    pool.acquire = () => Promise.reject(new Error('Knex: Timeout acquiring a connection'))
    const stack = new IdleConnectionStack(pool)
    await expect(stack.acquire()).rejects.toThrow('Timeout acquiring')
  })
})
