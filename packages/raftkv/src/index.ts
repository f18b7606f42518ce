/**
 * @flotilla/raftkv — Flotilla's consensus store, the etcd equivalent.
 *
 *   raft/       the pure Raft core (RawNode, Ready) and its simulation harness
 *   wal/        write-ahead log and snapshot files
 *   kv/         the MVCC key-value state machine (revisions, watches, leases, txns)
 *   transport/  authenticated peer transport (msgpackr frames over TCP)
 *   server/     a member: the host loop around Raft, and its etcd-v3-shaped HTTP API
 *   client/     the client library other components use
 */
export { RaftKvServer, hasMemberData, MAX_REQUEST_BYTES, VERSION } from './server/member.js';
export type { RaftKvServerConfig } from './server/member.js';
export { buildHttpApi } from './server/http.js';
export { RaftKvError } from './server/api.js';
export type { Member, MemberStatus, RaftKvApi, RaftKvErrorCode, ClusterHeader } from './server/api.js';
export { memberIdFor, formatId } from './server/identity.js';
export * from './kv/types.js';
export { prefixEnd } from './kv/store.js';
/** The seeded PRNG of the Raft simulation, for other packages' randomised tests. */
export { seededRandom } from './raft/simulation.js';
