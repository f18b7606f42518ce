/**
 * Socket write helpers shared by both ends of a peer connection. Writes take views, never copies:
 * the caller must not modify the bytes until the write completes.
 */
import type net from 'node:net';
import { frameHeader } from './frames.js';

export interface WriteResult {
  /** write() returned true: the socket buffer is below its high-water mark. */
  flushed: boolean;
  /** Resolves once the bytes are handed to the kernel; rejects if the socket fails first. */
  done: Promise<void>;
}

export function write(socket: net.Socket, data: Uint8Array): WriteResult {
  let flushed = false;
  const done = new Promise<void>((resolve, reject) => {
    flushed = socket.write(data, (err) => (err ? reject(err) : resolve()));
  });
  // A failed write also closes the socket, which the caller observes; never leave it unhandled.
  done.catch(() => {});
  return { flushed, done };
}

/** Writes one frame (header and payload in a single writev when corked). */
export function writeFrame(socket: net.Socket, payload: Uint8Array): WriteResult {
  socket.write(frameHeader(payload.byteLength));
  return write(socket, payload);
}

/** Resolves with `done`; rejects if the socket closes first. */
export function untilWritten(socket: net.Socket, done: Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (socket.destroyed) {
      reject(new Error('socket closed'));
      return;
    }
    const onClose = (): void => reject(new Error('socket closed'));
    socket.once('close', onClose);
    done.then(resolve, reject).finally(() => socket.off('close', onClose));
  });
}

/** Resolves on 'drain'; rejects if the socket closes first. */
export function drained(socket: net.Socket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (socket.destroyed) {
      reject(new Error('socket closed'));
      return;
    }
    const onDrain = (): void => {
      socket.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      socket.off('drain', onDrain);
      reject(new Error('socket closed'));
    };
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}
