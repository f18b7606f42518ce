/**
 * Where the bytes of a snapshot sent to a peer come from. By default the 'snap' message carries
 * them; a member that keeps its snapshot on disk only (not in memory) supplies a body that reads
 * the file piece by piece instead (TransportOptions.snapshotBody).
 */
import type { Message } from '../raft/types.js';

export type SnapMessage = Extract<Message, { type: 'snap' }>;

export interface SnapshotBody {
  readonly byteLength: number;
  /**
   * The data in order, in pieces of at most `maxBytes`, adding up to byteLength. May throw
   * midway (a read error, a failed checksum): the transfer then fails and the connection closes,
   * so the peer drops what it received.
   */
  pieces(maxBytes: number): AsyncIterable<Uint8Array>;
  /** Releases what the body holds open; called once per body, however the transfer ended. */
  close(): Promise<void>;
}

/** The message's own bytes, as views (no copy). */
export function messageBody(m: SnapMessage): SnapshotBody {
  const data = m.snapshot.data;
  return {
    byteLength: data.byteLength,
    async *pieces(maxBytes: number) {
      for (let off = 0; off < data.byteLength; off += maxBytes) yield data.subarray(off, Math.min(off + maxBytes, data.byteLength));
    },
    close: () => Promise.resolve(),
  };
}
