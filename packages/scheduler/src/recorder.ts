/**
 * Events about pods (Scheduled, FailedScheduling), sent in the background so that recording one
 * never holds up the next decision or bind: a FIFO drained by two concurrent requests, like
 * client-go's event broadcaster (which kube-scheduler uses) drains its queue with one. Events
 * are the least important of the scheduler's writes: when the API server falls behind during a
 * burst, the queue is capped (client-go's 1,000 queued events) and further events are dropped
 * and counted, rather than slowing the binds down.
 */
import type { KubeObject } from '@flotilla/api';
import { recordEvent, type EventType, type KubeClient } from '@flotilla/client';

export interface EventRecorderOptions {
  client: KubeClient;
  /** source.component of every event, e.g. "default-scheduler". */
  component: string;
  /** Events being sent at once. Default 2. */
  concurrency?: number;
  /** Events waiting beyond this many are dropped. Default 1000. */
  maxQueued?: number;
  onError?: (err: unknown) => void;
  /** Told of each dropped event with the running count. */
  onDrop?: (dropped: number) => void;
}

interface Pending {
  pod: KubeObject;
  type: EventType;
  reason: string;
  message: string;
}

export class EventRecorder {
  private readonly queue: Pending[] = [];
  private head = 0;
  private active = 0;
  private idle: (() => void)[] = [];
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private closed = false;
  /** Events dropped because the queue was full. */
  dropped = 0;

  constructor(private readonly o: EventRecorderOptions) {
    this.concurrency = Math.max(1, Math.floor(o.concurrency ?? 2));
    this.maxQueued = Math.max(1, Math.floor(o.maxQueued ?? 1000));
  }

  get pending(): number {
    return this.queue.length - this.head + this.active;
  }

  record(pod: KubeObject, type: EventType, reason: string, message: string): void {
    if (this.closed) {
      this.dropped++;
      return;
    }
    if (this.queue.length - this.head >= this.maxQueued) {
      this.dropped++;
      this.o.onDrop?.(this.dropped);
      return;
    }
    this.queue.push({ pod, type, reason, message });
    this.pump();
  }

  /** Resolves once every event recorded so far has been sent (or failed). */
  flush(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * Takes no more events, waits up to `waitMs` for the queued ones to be sent, then drops what
   * is still queued (counted in `dropped`); requests already sent are left to finish.
   */
  async close(waitMs: number): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    this.dropped += this.queue.length - this.head;
    this.queue.length = 0;
    this.head = 0;
  }

  private pump(): void {
    while (this.active < this.concurrency && this.head < this.queue.length) {
      const ev = this.queue[this.head++];
      if (this.head > 64 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.active++;
      void recordEvent(this.o.client, ev.pod, ev.type, ev.reason, ev.message, { component: this.o.component }).catch((err: unknown) => this.o.onError?.(err)).finally(() => {
        this.active--;
        this.pump();
        if (this.pending === 0) for (const resolve of this.idle.splice(0)) resolve();
      });
    }
  }
}
