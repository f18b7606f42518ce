/**
 * The vocabulary of the Raft core: log entries, persistent state, snapshots and the messages
 * peers exchange. Everything here is plain data so it can be persisted (WAL, msgpackr frames)
 * and compared in tests without custom serialisers.
 */

/** A member's id. Non-zero; 0 means "none" wherever an id is optional. */
export type NodeId = number;
export const NONE: NodeId = 0;

export type EntryType = 'normal' | 'confChange';

/** One log entry. Invariant: index >= 1, term >= 1; `data` is opaque to Raft. */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Normal entries: the state machine's command (empty for the no-op a new leader appends).
   *  confChange entries: an encoded ConfChange (see encodeConfChange). */
  readonly data: Uint8Array;
}

/** What must be on disk before a node sends any message that depends on it. */
export interface HardState {
  readonly term: number;
  /** The candidate voted for in `term`, or NONE. */
  readonly vote: NodeId;
  /** Highest index known committed; persisted so restarts do not re-apply from zero blindly. */
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: NONE, commit: 0 };

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === NONE && hs.commit === 0;
}

/** The membership: voters decide elections and commits; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMetadata {
  /** Last log entry the snapshot covers, and its term. */
  readonly index: number;
  readonly term: number;
  /** Membership as of `index`. */
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The state machine's serialised state at `metadata.index`; opaque to Raft. */
  readonly data: Uint8Array;
}

export const EMPTY_SNAPSHOT: Snapshot = {
  metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
  data: new Uint8Array(0),
};

export type ConfChangeType = 'addNode' | 'addLearner' | 'removeNode';

/**
 * One membership change. Flotilla changes membership one member at a time (see confchange.ts
 * for why that is safe here); promoting a learner is `addNode` of an existing learner.
 */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque to Raft: the host stores peer addresses here. */
  readonly context: Uint8Array;
}

/** Messages between peers, and local inputs that travel the same `step` path. */
export type Message =
  | { type: 'hup'; from: NodeId; to: NodeId; term: number; transfer?: boolean } // local: start an election
  | { type: 'beat'; from: NodeId; to: NodeId; term: number } // local: leader sends heartbeats
  | { type: 'checkQuorum'; from: NodeId; to: NodeId; term: number } // local: leader checks it still has a quorum
  | { type: 'prop'; from: NodeId; to: NodeId; term: number; entries: Entry[] } // proposal (local, or forwarded by a follower)
  | { type: 'app'; from: NodeId; to: NodeId; term: number; logTerm: number; index: number; entries: Entry[]; commit: number }
  | { type: 'appResp'; from: NodeId; to: NodeId; term: number; index: number; reject: boolean; rejectHint: number; logTerm: number }
  | { type: 'vote'; from: NodeId; to: NodeId; term: number; logTerm: number; index: number; pre: boolean; transfer: boolean }
  | { type: 'voteResp'; from: NodeId; to: NodeId; term: number; reject: boolean; pre: boolean }
  | { type: 'snap'; from: NodeId; to: NodeId; term: number; snapshot: Snapshot }
  | { type: 'snapStatus'; from: NodeId; to: NodeId; term: number; reject: boolean } // local: host reports snapshot delivery
  | { type: 'unreachable'; from: NodeId; to: NodeId; term: number } // local: host reports a send failure
  | { type: 'heartbeat'; from: NodeId; to: NodeId; term: number; commit: number; context: Uint8Array }
  | { type: 'heartbeatResp'; from: NodeId; to: NodeId; term: number; context: Uint8Array }
  | { type: 'transferLeader'; from: NodeId; to: NodeId; term: number } // from = transferee
  | { type: 'timeoutNow'; from: NodeId; to: NodeId; term: number }
  | { type: 'readIndex'; from: NodeId; to: NodeId; term: number; context: Uint8Array }
  | { type: 'readIndexResp'; from: NodeId; to: NodeId; term: number; index: number; context: Uint8Array };

export type MessageType = Message['type'];

/** Messages that only ever come from the local host, never over the network. */
export const LOCAL_MESSAGES: ReadonlySet<MessageType> = new Set([
  'hup', 'beat', 'checkQuorum', 'snapStatus', 'unreachable',
]);

export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(x)}`);
}
