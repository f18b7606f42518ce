/**
 * Prometheus metrics of one raftkv member, named after etcd's (etcd_server_* → raftkv_server_*)
 * so existing dashboards translate directly. Each member owns its registry: tests run several
 * members in one process.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class RaftKvMetrics {
  readonly registry = new Registry();
  readonly hasLeader: Gauge;
  readonly isLeader: Gauge;
  readonly isLearner: Gauge;
  readonly leaderChanges: Counter;
  readonly term: Gauge;
  readonly proposalsCommitted: Gauge;
  readonly proposalsApplied: Gauge;
  readonly proposalsPending: Gauge;
  readonly proposalsFailed: Counter;
  readonly walFsyncDuration: Histogram;
  readonly applyDuration: Histogram;
  readonly proposalDuration: Histogram;
  readonly snapshotSaves: Counter;
  readonly snapshotSaveDuration: Histogram;
  readonly snapshotsSent: Counter;
  readonly snapshotsReceived: Counter;
  readonly dbSize: Gauge;
  readonly walSize: Gauge;
  readonly watchers: Gauge;
  readonly peerRtt: Histogram;
  readonly readIndexDuration: Histogram;
  private readRaft: (() => { term: number; committed: number; applied: number }) | undefined;

  constructor(labels: { member: string }, withProcessMetrics = true) {
    const registers = [this.registry];
    this.registry.setDefaultLabels(labels);
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry });
    // etcd's buckets (from 1 ms, doubling) with four more below: on a local SSD a WAL fsync and a
    // peer round trip take a few hundred microseconds, which one 0–0.5 ms bucket would hide.
    const latency = [0.0001, 0.0002, 0.0003, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192];
    this.hasLeader = new Gauge({ name: 'raftkv_server_has_leader', help: 'Whether a leader exists: 1 if one does, 0 if not.', registers });
    this.isLeader = new Gauge({ name: 'raftkv_server_is_leader', help: 'Whether this member is the leader: 1 if it is, 0 if not.', registers });
    this.isLearner = new Gauge({ name: 'raftkv_server_is_learner', help: 'Whether this member is a learner: 1 if it is, 0 if not.', registers });
    this.leaderChanges = new Counter({ name: 'raftkv_server_leader_changes_seen_total', help: 'Number of leader changes seen.', registers });
    // Read from the Raft state when scraped (see readRaftOnScrape), not set on every Ready.
    const raft = (): { term: number; committed: number; applied: number } | undefined => this.readRaft?.();
    this.term = new Gauge({ name: 'raftkv_server_term', help: 'The current Raft term.', registers, collect() { const r = raft(); if (r) this.set(r.term); } });
    this.proposalsCommitted = new Gauge({ name: 'raftkv_server_proposals_committed_total', help: 'Index of the last committed log entry (etcd names this a gauge with a _total suffix).', registers, collect() { const r = raft(); if (r) this.set(r.committed); } });
    this.proposalsApplied = new Gauge({ name: 'raftkv_server_proposals_applied_total', help: 'Index of the last applied log entry.', registers, collect() { const r = raft(); if (r) this.set(r.applied); } });
    this.proposalsPending = new Gauge({ name: 'raftkv_server_proposals_pending', help: 'Proposals made on this member that have not applied yet.', registers });
    this.proposalsFailed = new Counter({ name: 'raftkv_server_proposals_failed_total', help: 'Proposals that failed (dropped, timed out, or lost to a leader change).', registers });
    this.walFsyncDuration = new Histogram({ name: 'raftkv_disk_wal_fsync_duration_seconds', help: 'Latency of WAL fsyncs (one fsync may cover many proposals).', buckets: latency, registers });
    this.proposalDuration = new Histogram({ name: 'raftkv_server_proposal_duration_seconds', help: 'Time from a write proposed on this member to its result (committed and applied).', buckets: latency, registers });
    this.applyDuration = new Histogram({ name: 'raftkv_server_apply_duration_seconds', help: 'Time to apply one batch of committed entries to the state machine.', buckets: latency, registers });
    this.snapshotSaves = new Counter({ name: 'raftkv_server_snapshot_saves_total', help: 'Snapshots this member took of its state machine.', registers });
    this.snapshotSaveDuration = new Histogram({ name: 'raftkv_disk_snapshot_save_duration_seconds', help: 'Time to write a snapshot durably.', buckets: latency, registers });
    this.snapshotsSent = new Counter({ name: 'raftkv_network_snapshot_send_success_total', help: 'Snapshots sent to followers.', registers });
    this.snapshotsReceived = new Counter({ name: 'raftkv_network_snapshot_receive_success_total', help: 'Snapshots received from the leader and installed.', registers });
    this.dbSize = new Gauge({ name: 'raftkv_mvcc_db_total_size_in_bytes', help: 'Approximate size of the key-value data, including retained history.', registers });
    this.walSize = new Gauge({ name: 'raftkv_disk_wal_size_bytes', help: 'Bytes in WAL segment files.', registers });
    this.watchers = new Gauge({ name: 'raftkv_mvcc_watchers', help: 'Open watches served by this member.', registers });
    this.peerRtt = new Histogram({ name: 'raftkv_network_peer_round_trip_time_seconds', help: 'Round-trip time to each peer.', labelNames: ['To'], buckets: latency, registers });
    this.readIndexDuration = new Histogram({ name: 'raftkv_server_read_index_duration_seconds', help: 'Time for a linearizable read barrier (ReadIndex round).', buckets: latency, registers });
  }

  /** Where the term, commit and apply gauges read their values when scraped. */
  readRaftOnScrape(read: () => { term: number; committed: number; applied: number }): void {
    this.readRaft = read;
  }
}
