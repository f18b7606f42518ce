/**
 * The kubelet's Prometheus metrics, named as the real kubelet's are where they mean the same,
 * served on its port at /metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class KubeletMetrics {
  readonly registry = new Registry();
  readonly runningPods: Gauge;
  readonly runningContainers: Gauge;
  readonly podWorkerDuration: Histogram;
  readonly startedContainers: Counter;
  readonly startedContainerErrors: Counter<'code'>;
  readonly probes: Counter<'probe_type' | 'result'>;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.runningPods = new Gauge({ name: 'kubelet_running_pods', help: 'Pods with at least one running container.', registers });
    this.runningContainers = new Gauge({ name: 'kubelet_running_containers', help: 'Containers running now.', registers });
    this.podWorkerDuration = new Histogram({
      name: 'kubelet_pod_worker_duration_seconds',
      help: 'Time of one pod sync: deciding, applying the runtime actions and writing the status.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.startedContainers = new Counter({ name: 'kubelet_started_containers_total', help: 'Containers started.', registers });
    this.startedContainerErrors = new Counter({ name: 'kubelet_started_containers_errors_total', help: 'Container starts that failed, by reason.', labelNames: ['code'], registers });
    this.probes = new Counter({ name: 'prober_probe_total', help: 'Probe results, by probe type (liveness, readiness, startup) and result.', labelNames: ['probe_type', 'result'], registers });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }
}
