/**
 * The visited set and the BFS queue in one: every distinct state is stored
 * once, as `size` bytes in a chunked arena, and gets a dense id in discovery
 * order. Lookup is an open-addressing hash table of ids, comparing full bytes,
 * so deduplication is exact (no fingerprint collisions) and no per-state
 * object or string is allocated: millions of states fit in a few hundred MB.
 */
export class StateStore {
  readonly size: number
  #chunks: Uint8Array[] = []
  #perChunk: number
  #table: Int32Array
  #mask: number
  #count = 0

  constructor(size: number, expected = 1 << 16) {
    this.size = size
    this.#perChunk = Math.max(1, Math.floor((1 << 24) / size))
    let capacity = 1 << 10
    while (capacity < expected * 2) capacity <<= 1
    this.#table = new Int32Array(capacity).fill(-1)
    this.#mask = capacity - 1
  }

  get count(): number {
    return this.#count
  }

  /** The id of `s`, adding it if new (then the id equals the previous `count`). */
  intern(s: Uint8Array): number {
    let slot = hash(s, this.size) & this.#mask
    for (;;) {
      const id = this.#table[slot]!
      if (id < 0) break
      if (this.#equals(id, s)) return id
      slot = (slot + 1) & this.#mask
    }
    const id = this.#count++
    const chunk = Math.floor(id / this.#perChunk)
    if (chunk === this.#chunks.length) this.#chunks.push(new Uint8Array(this.#perChunk * this.size))
    this.#chunks[chunk]!.set(s, (id % this.#perChunk) * this.size)
    this.#table[slot] = id
    if (this.#count * 2 > this.#table.length) this.#grow()
    return id
  }

  /** A copy of state `id`. */
  get(id: number): Uint8Array {
    const offset = (id % this.#perChunk) * this.size
    return this.#chunks[Math.floor(id / this.#perChunk)]!.slice(offset, offset + this.size)
  }

  #equals(id: number, s: Uint8Array): boolean {
    const chunk = this.#chunks[Math.floor(id / this.#perChunk)]!
    const offset = (id % this.#perChunk) * this.size
    for (let i = 0; i < this.size; i++) if (chunk[offset + i] !== s[i]) return false
    return true
  }

  #grow(): void {
    const capacity = this.#table.length * 2
    const table = new Int32Array(capacity).fill(-1)
    const mask = capacity - 1
    for (let id = 0; id < this.#count; id++) {
      let slot = hash(this.get(id), this.size) & mask
      while (table[slot]! >= 0) slot = (slot + 1) & mask
      table[slot] = id
    }
    this.#table = table
    this.#mask = mask
  }
}

/** FNV-1a with a final avalanche: states differ in few bytes, so the low bits must mix well. */
function hash(s: Uint8Array, size: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < size; i++) h = Math.imul(h ^ s[i]!, 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}
