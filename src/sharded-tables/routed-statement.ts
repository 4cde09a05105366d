import type { RoutePlan } from './route-plan.js'

/**
 * One statement on a declared table, routed but not yet sent. Like a knex
 * builder it runs when awaited (once, however often it is awaited);
 * {@link RoutedStatement.explain} tells where it would go without running it.
 * Routing refusals surface there too: `explain()` throws them, `await` rejects with them.
 *
 * ```ts
 * const insert = tx.table('accounts').insert([{ id: 1, balance: 0 }, { id: 2, balance: 0 }])
 * insert.explain().shards // e.g. ['pg-0', 'my-1']
 * await insert            // 2
 * ```
 */
export class RoutedStatement<T> implements PromiseLike<T> {
  readonly #plan: () => RoutePlan
  readonly #run: () => Promise<T>
  #result: Promise<T> | undefined

  /** @internal Made by a {@link ShardedQuery}. */
  constructor(plan: () => RoutePlan, run: () => Promise<T>) {
    this.#plan = plan
    this.#run = run
  }

  /** Where the statement goes and why; throws the {@link RoutingError} it would reject with. */
  explain(): RoutePlan {
    return this.#plan()
  }

  then<A = T, B = never>(
    onFulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: any) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.#result ??= this.#run()
    return this.#result.then(onFulfilled, onRejected)
  }

  catch<B = never>(onRejected?: ((reason: any) => B | PromiseLike<B>) | null): Promise<T | B> {
    return this.then(undefined, onRejected)
  }

  finally(onFinally?: (() => void) | null): Promise<T> {
    return this.then().finally(onFinally)
  }
}
