/**
 * @flotilla/scheduler: the pure scheduling core — scheduleOne(pod, nodes) with filter and score
 * plugins — on which the leader-elected scheduler process is built.
 */
export { scheduleOne, DEFAULT_PLUGINS, type Decision } from './schedule-one.js';
export { addPod, newNodeInfo, nodeAllocatable, podHostPorts, podRequests, type NodeInfo, type Resources } from './node-info.js';
export type { Plugin } from './plugins/plugin.js';
export { Scheduler, type SchedulerOptions } from './scheduler.js';
