/**
 * ReadIndex (Raft dissertation §6.4): a leader serves a linearizable read without writing to
 * the log by recording its commit index, then confirming with a heartbeat round that a quorum
 * still follows it. Requests are identified by an opaque context the host chooses; the host
 * batches many client reads under one context, so one heartbeat round serves them all.
 */
import type { NodeId } from './types.js';

export interface ReadState {
  /** Reads may be served once the local state machine has applied this index. */
  readonly index: number;
  readonly context: Uint8Array;
}

interface PendingRead {
  readonly index: number;
  /** Who asked: the leader itself (NONE) or a follower to answer with readIndexResp. */
  readonly from: NodeId;
  readonly context: Uint8Array;
  readonly acks: Set<NodeId>;
}

function key(ctx: Uint8Array): string {
  return Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString('latin1');
}

export class ReadOnly {
  private readonly pending = new Map<string, PendingRead>();
  /** Contexts in the order they were added; a quorum ack of one confirms every earlier one. */
  private queue: string[] = [];

  add(index: number, from: NodeId, context: Uint8Array): void {
    const k = key(context);
    if (this.pending.has(k)) return;
    this.pending.set(k, { index, from, context, acks: new Set() });
    this.queue.push(k);
  }

  /** Records that `id` answered a heartbeat carrying `context`; returns who has acked so far. */
  recvAck(id: NodeId, context: Uint8Array): ReadonlySet<NodeId> | undefined {
    const p = this.pending.get(key(context));
    if (!p) return undefined;
    p.acks.add(id);
    return p.acks;
  }

  /** Removes and returns every request up to and including `context`. */
  advance(context: Uint8Array): { index: number; from: NodeId; context: Uint8Array }[] {
    const k = key(context);
    const at = this.queue.indexOf(k);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1).map((q) => this.pending.get(q)!);
    for (const q of this.queue.slice(0, at + 1)) this.pending.delete(q);
    this.queue = this.queue.slice(at + 1);
    return done;
  }

  lastPendingContext(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)!.context;
  }

  size(): number {
    return this.queue.length;
  }
}
