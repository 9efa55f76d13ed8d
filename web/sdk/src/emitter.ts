/**
 * A typed event emitter: each event name has one payload type, so listeners are
 * checked by the compiler and a typo in an event name does not compile.
 */

/** Removes the listener it was returned for. */
export type Unsubscribe = () => void;

/** Calls listeners of a map of event names to payload types. */
export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  /** Calls `listener` for every `name` event until the returned function is called. */
  on<K extends keyof Events>(name: K, listener: (payload: Events[K]) => void): Unsubscribe {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  /** Calls `listener` for the next `name` event only. */
  once<K extends keyof Events>(name: K, listener: (payload: Events[K]) => void): Unsubscribe {
    const off = this.on(name, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  /**
   * Calls every listener of `name`. A throwing listener is reported on the console and
   * does not stop the others: one broken UI component must not stall delivery.
   */
  protected emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as (payload: Events[K]) => void)(payload);
      } catch (err) {
        console.error(`switchboard: a "${String(name)}" listener threw`, err);
      }
    }
  }
}
