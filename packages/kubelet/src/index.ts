/**
 * @flotilla/kubelet: container runtimes behind one interface (the process runtime today; the
 * docker runtime, node registration, pod workers, probes and logs come next).
 */
export { ProcessRuntime } from './runtime/process-runtime.js';
export { RuntimeError } from './runtime/runtime.js';
export type { ContainerRecord, ContainerRuntime, ContainerSpec, ContainerState, LogOptions } from './runtime/runtime.js';
export { syncPod, KUBERNETES_BACKOFF, type BackoffPolicy, type SyncAction, type SyncResult } from './pod-sync.js';
export { NodeAgent, nodeCapacity, nodeStatus, KUBELET_VERSION, type NodeConfig } from './node-agent.js';
export { Kubelet, type KubeletOptions } from './kubelet.js';
