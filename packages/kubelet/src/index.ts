/**
 * @flotilla/kubelet: container runtimes behind one interface (process and docker), node
 * registration and heartbeats, pod workers, probes, and the kubelet's own server (logs, metrics).
 */
export { ProcessRuntime } from './runtime/process-runtime.js';
export { DockerRuntime, DOCKER_LABELS, type DockerRuntimeOptions } from './runtime/docker-runtime.js';
export { RuntimeError } from './runtime/runtime.js';
export { readAll } from './runtime/runtime.js';
export type { ContainerRecord, ContainerRuntime, ContainerSpec, ContainerState, ExecResult, LogOptions, ResourceLimits } from './runtime/runtime.js';
export { syncPod, KUBERNETES_BACKOFF, type BackoffPolicy, type SyncAction, type SyncResult } from './pod-sync.js';
export { NodeAgent, nodeCapacity, nodeStatus, KUBELET_VERSION, type NodeConfig } from './node-agent.js';
export { Kubelet, type KubeletOptions } from './kubelet.js';
export { ContainerConfig, qosClassOf } from './container-config.js';
export { KubeletServer, APISERVER_KUBELET_CLIENT, type KubeletServerOptions } from './kubelet-server.js';
export { KubeletMetrics } from './metrics.js';
export { ProbeManager, runProbe } from './prober.js';
export { containerHealth, initialProbeState, nextProbeAt, parseProbe, recordOutcome, type ProbeSpec, type ProbeState, type ProbeType } from './probes.js';
