/**
 * One conversation's ordered items as this client has them: deduplicated by `seq`
 * (resume replays, a takeover's re-send and our own `sent` may each bring an item
 * again), kept in `seq` order, with the highest seq below which nothing is missing
 * (`contiguous`: what `resume` and `ack` name). Pure data, no I/O.
 */

import type { Item } from './frames.js';

/** What `ItemLog.insert` did with an item. */
export type InsertResult = 'added' | 'duplicate';

/** Sorted, deduplicated items with hole tracking. */
export class ItemLog {
  private list: Item[] = [];
  private above = new Set<number>();
  private floor: number;

  /** `contiguous`: every seq up to it was seen or is known lost. */
  constructor(contiguous = 0, private readonly maxItems = 1000) {
    this.floor = contiguous;
  }

  /** Every seq up to this one was seen (or skipped by a `gap`). */
  get contiguous(): number {
    return this.floor;
  }

  /** True when an item above `contiguous + 1` arrived before the one it follows. */
  get hasHole(): boolean {
    return this.above.size > 0;
  }

  /** The newest seq this client has. */
  get newestSeq(): number {
    const last = this.list[this.list.length - 1];
    return Math.max(this.floor, last ? last.seq : 0);
  }

  /** The oldest seq in memory, or `undefined` when empty. */
  get oldestSeq(): number | undefined {
    return this.list[0]?.seq;
  }

  /** The items, oldest first (do not mutate). */
  get items(): readonly Item[] {
    return this.list;
  }

  /**
   * Inserts one live item (a frame, a replay, our own `sent`). Anything at or below
   * `contiguous`, or seen before, is a duplicate: the protocol asks clients to keep the
   * highest seq and drop what is not above it.
   */
  insert(item: Item): InsertResult {
    if (item.seq <= this.floor || this.above.has(item.seq)) return 'duplicate';
    this.above.add(item.seq);
    this.place(item);
    while (this.above.has(this.floor + 1)) {
      this.above.delete(this.floor + 1);
      this.floor++;
    }
    return 'added';
  }

  /** Inserts an item older than `contiguous` (a history page or storage) unless present. */
  insertOlder(item: Item): InsertResult {
    if (item.seq > this.floor || this.find(item.seq) >= 0) return 'duplicate';
    this.place(item);
    return 'added';
  }

  /** The server said items up to `oldestSeq - 1` are lost: stop waiting for them. */
  skipTo(oldestSeq: number): void {
    if (oldestSeq - 1 <= this.floor) return;
    this.floor = oldestSeq - 1;
    for (const s of [...this.above]) if (s <= this.floor) this.above.delete(s);
    while (this.above.has(this.floor + 1)) {
      this.above.delete(this.floor + 1);
      this.floor++;
    }
  }

  private find(seq: number): number {
    let lo = 0;
    let hi = this.list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.list[mid]!.seq;
      if (s === seq) return mid;
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private place(item: Item): void {
    let i = this.list.length;
    while (i > 0 && this.list[i - 1]!.seq > item.seq) i--;
    this.list.splice(i, 0, item);
    if (this.list.length > this.maxItems) this.list.splice(0, this.list.length - this.maxItems);
  }
}
