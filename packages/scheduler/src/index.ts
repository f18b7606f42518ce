/**
 * @flotilla/scheduler: the pure scheduling core — scheduleOne(pod, nodes) with filter and score
 * plugins — on which the leader-elected scheduler process is built.
 */
export { scheduleOne, feasibleNodesToFind, DEFAULT_PLUGINS, type Decision, type ScheduleOptions } from './schedule-one.js';
export { addPod, newNodeInfo, nodeAllocatable, podController, podHostPorts, podRequests, removePod, setNode, type NodeInfo, type Resources } from './node-info.js';
export type { Plugin } from './plugins/plugin.js';
export { SchedulerCache } from './cache.js';
export { EventRecorder, type EventRecorderOptions } from './recorder.js';
export { EVENT_FLUSH_ON_STOP_MS, Scheduler, schedulerEventRecorder, type SchedulerOptions } from './scheduler.js';
