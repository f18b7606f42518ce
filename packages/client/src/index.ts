/**
 * @flotilla/client: how every Flotilla component talks to the API server — the REST client,
 * informers (list+watch caches with handlers), a rate-limited work queue and Lease-based leader
 * election.
 */
export { KubeClient, loadKubeconfig, resourcePath, resources, errorFromReply, serversExtension, SERVERS_EXTENSION } from './rest.js';
export type { ClientConfig, ListOptions, PatchType, ResourceRef, WatchHandle, WatchOptions } from './rest.js';
export { Informer, keyOf, type Handler, type InformerOptions } from './informer.js';
export { LeaderElector, type LeaderElectionOptions } from './leader-election.js';
export { WorkQueue, realClock, type Clock, type WorkQueueOptions } from './workqueue.js';
export { createCA, issue, newToken, selfSigned, serviceAccountKeyPair, type KeyPair, type IssueOptions } from './cert.js';
export { recordEvent, type EventType } from './events.js';
