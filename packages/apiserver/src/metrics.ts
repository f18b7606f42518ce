/**
 * Prometheus metrics of one apiserver replica, named as kube-apiserver's are so dashboards and
 * alerts written for Kubernetes work unchanged. Each replica owns its registry (tests run several
 * in one process).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ApiServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'verb' | 'resource' | 'code'>;
  readonly requestDuration: Histogram<'verb' | 'resource'>;
  readonly watchers: Gauge<'resource'>;
  readonly storageDuration: Histogram<'operation' | 'resource'>;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'apiserver_request_total', help: 'Requests served, by verb, resource and HTTP code.', labelNames: ['verb', 'resource', 'code'], registers });
    this.requestDuration = new Histogram({
      name: 'apiserver_request_duration_seconds',
      help: 'Time to serve a request (watches excluded), by verb and resource.',
      labelNames: ['verb', 'resource'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.watchers = new Gauge({ name: 'apiserver_registered_watchers', help: 'Watches open now, by resource.', labelNames: ['resource'], registers });
    this.storageDuration = new Histogram({
      name: 'apiserver_storage_request_duration_seconds',
      help: 'Time of one raftkv call, by operation and resource.',
      labelNames: ['operation', 'resource'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }
}
