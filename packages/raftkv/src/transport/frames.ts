/**
 * Length-prefixed framing: every frame on a peer connection is `[u32 big-endian length][payload]`.
 * The decoder is incremental (TCP delivers arbitrary slices) and copies each byte at most once:
 * a frame that arrives whole inside one socket read is handed out as a view of that read, and a
 * frame that spans reads is assembled in a buffer allocated once at its final size.
 */

export const FRAME_HEADER_BYTES = 4;

/** A frame announced a length above the decoder's limit; the connection must be closed. */
export class FrameTooLargeError extends Error {
  readonly code = 'FRAME_TOO_LARGE';
  constructor(readonly length: number, readonly max: number) {
    super(`frame of ${length} bytes exceeds the limit of ${max} bytes`);
    this.name = 'FrameTooLargeError';
  }
}

/** The 4-byte header announcing a payload of `length` bytes. */
export function frameHeader(length: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h.writeUInt32BE(length, 0);
  return h;
}

/**
 * Splits a byte stream into frame payloads.
 *
 * Ownership: a payload passed to `onFrame` may be a view of the chunk given to `push`, so it is
 * only valid during the callback; copy what must outlive it.
 */
export class FrameDecoder {
  /** Bytes of a header split across reads. */
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  /** The frame being assembled across reads, or null between frames. */
  private frame: Buffer | null = null;
  private frameFilled = 0;

  /** @param max largest accepted payload, in bytes; may be raised later (e.g. after authentication). */
  constructor(public max: number) {}

  /** Bytes held for a frame not yet complete (for tests and diagnostics). */
  get buffered(): number {
    return this.headerFilled + this.frameFilled;
  }

  /**
   * Feeds one chunk; calls `onFrame` for each complete payload, in order. `onFrame` returns false
   * to stop decoding (the connection is being closed). Throws FrameTooLargeError.
   */
  push(chunk: Buffer, onFrame: (payload: Buffer) => boolean | void): void {
    let off = 0;
    const end = chunk.byteLength;
    while (off < end) {
      if (this.frame !== null) {
        const n = Math.min(this.frame.byteLength - this.frameFilled, end - off);
        chunk.copy(this.frame, this.frameFilled, off, off + n);
        this.frameFilled += n;
        off += n;
        if (this.frameFilled < this.frame.byteLength) return;
        const f = this.frame;
        this.frame = null;
        this.frameFilled = 0;
        if (onFrame(f) === false) return;
        continue;
      }
      let length: number;
      if (this.headerFilled === 0 && end - off >= FRAME_HEADER_BYTES) {
        length = chunk.readUInt32BE(off);
        off += FRAME_HEADER_BYTES;
      } else {
        const n = Math.min(FRAME_HEADER_BYTES - this.headerFilled, end - off);
        chunk.copy(this.header, this.headerFilled, off, off + n);
        this.headerFilled += n;
        off += n;
        if (this.headerFilled < FRAME_HEADER_BYTES) return;
        this.headerFilled = 0;
        length = this.header.readUInt32BE(0);
      }
      if (length > this.max) throw new FrameTooLargeError(length, this.max);
      if (end - off >= length) {
        const f = chunk.subarray(off, off + length);
        off += length;
        if (onFrame(f) === false) return;
      } else {
        // allocUnsafeSlow: a frame may be kept while it is decoded; never share the small-buffer pool.
        this.frame = Buffer.allocUnsafeSlow(length);
        this.frameFilled = 0;
      }
    }
  }
}
