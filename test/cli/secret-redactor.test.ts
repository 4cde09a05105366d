import { describe, expect, it } from 'vitest'
import { SecretRedactor } from '../../src/cli/secret-redactor.js'

describe('SecretRedactor', () => {
  it('learns passwords from URLs and password-like keys anywhere in a config, and replaces them', () => {
    const redactor = new SecretRedactor()
    redactor.learn({
      shards: [
        { id: 'a', connection: 'postgres://app:p%40ss%2Fw0rd@db0/app' },
        { id: 'b', connection: { host: 'db1', password: 'hunter22', driverOptions: { ssl: { passphrase: 'tls-phrase' } } } },
      ],
      extra: { apiToken: 'tok-123456' },
    })
    const text = 'p@ss/w0rd | p%40ss%2Fw0rd | hunter22 | tls-phrase | tok-123456 | mysql://root:other@h/db'
    expect(redactor.redact(text)).toBe('*** | *** | *** | *** | *** | mysql://root:***@h/db')
  })

  it('leaves text alone when it knows no secret, and ignores values too short to be one', () => {
    const redactor = new SecretRedactor()
    redactor.learn({ shards: [{ connection: { password: 'ab' } }] })
    expect(redactor.redact('about a table')).toBe('about a table')
  })
})
