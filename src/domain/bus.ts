/**
 * A typed event bus: one map from event name to payload type, listeners registered with an
 * owner so that all of an owner's listeners go at once. Emitting allocates nothing (the 50 Hz
 * loop emits every pose): listener lists are replaced, never mutated, when they change, so an
 * emit in progress walks a list that stays as it was. A throwing listener never reaches the
 * emitter or the other listeners: it is handed to the failure handler with its owner and event.
 */
export type Owner = { readonly name: string };

type Entry<T> = { readonly owner: Owner; readonly fn: (payload: T) => void };

export type ListenerFailureHandler = (owner: Owner, event: string, error: unknown) => void;

export class EventBus<E extends object> {
  private readonly lists = new Map<keyof E, readonly Entry<never>[]>();

  constructor(private readonly onListenerError: ListenerFailureHandler) {}

  on<K extends keyof E>(owner: Owner, event: K, fn: (payload: E[K]) => void): void {
    const cur = (this.lists.get(event) ?? []) as readonly Entry<E[K]>[];
    this.lists.set(event, [...cur, { owner, fn }] as readonly Entry<never>[]);
  }

  /** Drops every listener `owner` registered, on every event. */
  removeListeners(owner: Owner): void {
    for (const [event, list] of this.lists) {
      const kept = list.filter((e) => e.owner !== owner);
      if (kept.length !== list.length) this.lists.set(event, kept);
    }
  }

  listenerCount(event: keyof E): number {
    return this.lists.get(event)?.length ?? 0;
  }

  emit<K extends keyof E>(event: K, payload: E[K]): void {
    const list = this.lists.get(event) as readonly Entry<E[K]>[] | undefined;
    if (!list) return;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      try {
        e.fn(payload);
      } catch (err) {
        this.onListenerError(e.owner, String(event), err);
      }
    }
  }
}
