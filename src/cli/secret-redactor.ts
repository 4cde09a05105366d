import { redactUrl } from '../config/connection.js'

/** Keys whose string values are secrets wherever they appear in a config. */
const SECRET_KEY = /pass(word)?|pwd|secret|token/i
/** Shorter values would mangle ordinary words; no real password is that short. */
const MIN_SECRET_LENGTH = 3

/**
 * Keeps passwords out of everything the CLI prints. It learns the secrets of
 * the loaded config (every `password`-like value, every password inside a
 * connection URL) and replaces them, and any `user:password@` in a URL, by `***`.
 * Driver messages do not quote passwords today; this makes sure none ever does.
 */
export class SecretRedactor {
  readonly #secrets = new Set<string>()

  /** Collects the secrets of a config object (or anything else), recursively. */
  learn(value: unknown): void {
    this.#walk(value, undefined, new WeakSet(), 0)
  }

  redact(text: string): string {
    let result = redactUrl(text)
    // Longest first, so a secret containing another is replaced whole.
    for (const secret of [...this.#secrets].sort((a, b) => b.length - a.length)) {
      result = result.split(secret).join('***')
    }
    return result
  }

  #walk(value: unknown, key: string | undefined, seen: WeakSet<object>, depth: number): void {
    if (typeof value === 'string') {
      if (key !== undefined && SECRET_KEY.test(key)) this.#add(value)
      this.#addUrlPassword(value)
      return
    }
    if (value === null || typeof value !== 'object' || seen.has(value) || depth > 8) return
    seen.add(value)
    for (const [k, v] of Object.entries(value)) this.#walk(v, Array.isArray(value) ? key : k, seen, depth + 1)
  }

  #addUrlPassword(text: string): void {
    if (!text.includes('@')) return
    try {
      const url = new URL(text)
      if (url.password !== '') {
        this.#add(url.password)
        this.#add(decodeURIComponent(url.password))
      }
    } catch {
      // Not a URL.
    }
  }

  #add(secret: string): void {
    if (secret.length >= MIN_SECRET_LENGTH) this.#secrets.add(secret)
  }
}
