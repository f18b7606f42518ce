/**
 * Events, as components record them about an object (`kubectl describe` shows them): one
 * function for the scheduler, the kubelet and the controllers, so they all fill the fields the
 * same way.
 */
import type { KubeObject } from '@flotilla/api';
import { resources, type KubeClient } from './rest.js';

export type EventType = 'Normal' | 'Warning';

export async function recordEvent(client: KubeClient, about: KubeObject & { kind?: string; apiVersion?: string }, type: EventType, reason: string, message: string, source: { component: string; host?: string }): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await client.create(resources.events, {
    metadata: { generateName: `${about.metadata.name ?? 'object'}.`, namespace: about.metadata.namespace ?? 'default' },
    involvedObject: { kind: about.kind ?? 'Pod', apiVersion: about.apiVersion ?? 'v1', namespace: about.metadata.namespace, name: about.metadata.name, uid: about.metadata.uid },
    type, reason, message, count: 1, firstTimestamp: now, lastTimestamp: now,
    source,
  });
}
