import type { KubeObject, ObjectMeta } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { deployments } from '../registry/apps.js';
import { configmaps, events, namespaces, pods, services } from '../registry/core.js';
import type { ResourceDef } from '../registry/types.js';
import { carryMetadata, generatedName, initMetadata, sameObject, timestamp, validateMetadata } from './metadata.js';

const RFC3339_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** Field paths of the causes validateMetadata reports. */
const problems = (def: ResourceDef, meta: ObjectMeta): (string | undefined)[] => validateMetadata(def, meta).map((c) => c.field);

describe('validateMetadata: names', () => {
  // [kind's nameRule via a def, name, valid?]
  it.each<[string, ResourceDef, string, boolean]>([
    ['subdomain', configmaps, 'web', true],
    ['subdomain', configmaps, 'web.example.com', true],
    ['subdomain', configmaps, 'a'.repeat(253), true],
    ['subdomain', configmaps, 'a'.repeat(254), false],
    ['subdomain', configmaps, 'Web', false],
    ['subdomain', configmaps, '-web', false],
    ['subdomain', configmaps, 'web-', false],
    ['subdomain', configmaps, 'web_1', false],
    ['subdomain', configmaps, 'a..b', false],
    ['label (namespaces)', namespaces, 'kube-system', true],
    ['label (namespaces)', namespaces, '1abc', true],
    ['label (namespaces)', namespaces, 'a.b', false],
    ['label (namespaces)', namespaces, 'a'.repeat(64), false],
    ['label1035 (services)', services, 'web', true],
    ['label1035 (services)', services, '1web', false],
    ['label1035 (services)', services, 'web.x', false],
    ['any (events)', events, 'web.17a3b:Pod', true],
    ['any (events)', events, 'a/b', false],
    ['any (events)', events, '.', false],
    ['any (events)', events, '..', false],
  ])('%s: %j valid=%s', (_rule, def, name, valid) => {
    expect(problems(def, { name })).toEqual(valid ? [] : ['metadata.name']);
  });

  it('a missing name is required (name or generateName)', () => {
    const causes = validateMetadata(configmaps, {});
    expect(causes).toEqual([expect.objectContaining({ field: 'metadata.name', reason: 'FieldValueRequired' })]);
  });
});

describe('validateMetadata: labels, annotations, finalizers, ownerReferences', () => {
  it.each<[string, Record<string, unknown>, boolean]>([
    ['a plain key', { app: 'web' }, true],
    ['a prefixed key', { 'app.kubernetes.io/name': 'web' }, true],
    ['an empty value', { app: '' }, true],
    ['a value with _ . -', { app: 'a_b.c-d' }, true],
    ['a 63-character value', { app: 'v'.repeat(63) }, true],
    ['a 64-character value', { app: 'v'.repeat(64) }, false],
    ['a value with a space', { app: 'a b' }, false],
    ['a value ending in -', { app: 'web-' }, false],
    ['a non-string value', { app: 1 }, false],
    ['an empty key', { '': 'x' }, false],
    ['a key with two slashes', { 'a/b/c': 'x' }, false],
    ['a key with an empty prefix', { '/app': 'x' }, false],
    ['a key with an uppercase prefix', { 'Example.com/app': 'x' }, false],
    ['a 64-character key name', { ['k'.repeat(64)]: 'x' }, false],
  ])('label %s: valid=%s', (_name, labels, valid) => {
    const causes = validateMetadata(configmaps, { name: 'c', labels: labels as Record<string, string> });
    expect(causes.map((c) => c.field)).toEqual(valid ? [] : ['metadata.labels']);
  });

  it('labels that are not a map are refused', () => {
    expect(problems(configmaps, { name: 'c', labels: ['a'] as unknown as Record<string, string> })).toEqual(['metadata.labels']);
  });

  it('annotation values may be long and free-form, but keys are qualified names', () => {
    expect(problems(configmaps, { name: 'c', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `{"a": "b c"}\n`.repeat(1000) } })).toEqual([]);
    expect(problems(configmaps, { name: 'c', annotations: { 'bad key': 'x' } })).toEqual(['metadata.annotations']);
    expect(problems(configmaps, { name: 'c', annotations: { a: 1 as unknown as string } })).toEqual(['metadata.annotations[a]']);
  });

  it('annotations totalling over 256 KiB are too long; exactly 256 KiB is fine', () => {
    const limit = 256 * 1024;
    expect(problems(configmaps, { name: 'c', annotations: { a: 'x'.repeat(limit - 1) } })).toEqual([]);
    const causes = validateMetadata(configmaps, { name: 'c', annotations: { a: 'x'.repeat(limit - 2), b: 'xx' } });
    expect(causes).toEqual([expect.objectContaining({ field: 'metadata.annotations', reason: 'FieldValueTooLong' })]);
    expect(causes[0].message).toContain(String(limit));
  });

  // The limit is in bytes: counting UTF-16 code units would let multi-byte text through.
  it('annotation size counts UTF-8 bytes, so 300,000 bytes of "€" are over 256 KiB', () => {
    const causes = validateMetadata(configmaps, { name: 'c', annotations: { a: '€'.repeat(100_000) } });
    expect(causes).toEqual([expect.objectContaining({ field: 'metadata.annotations', reason: 'FieldValueTooLong' })]);
  });

  it('finalizers must be a list of strings', () => {
    expect(problems(configmaps, { name: 'c', finalizers: ['example.com/x'] })).toEqual([]);
    expect(problems(configmaps, { name: 'c', finalizers: [1] as unknown as string[] })).toEqual(['metadata.finalizers']);
    expect(problems(configmaps, { name: 'c', finalizers: 'x' as unknown as string[] })).toEqual(['metadata.finalizers']);
  });

  it('an ownerReference needs apiVersion, kind, name and uid, each reported by index', () => {
    const good = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'u-1', controller: true };
    expect(problems(pods, { name: 'p', ownerReferences: [good] })).toEqual([]);
    expect(problems(pods, { name: 'p', ownerReferences: [good, { apiVersion: 'apps/v1', kind: 'ReplicaSet' } as never] })).toEqual([
      'metadata.ownerReferences[1].name',
      'metadata.ownerReferences[1].uid',
    ]);
    expect(problems(pods, { name: 'p', ownerReferences: [{ ...good, uid: '' }] })).toEqual(['metadata.ownerReferences[0].uid']);
    expect(problems(pods, { name: 'p', ownerReferences: ['x'] as never })).toEqual([
      'metadata.ownerReferences[0].apiVersion',
      'metadata.ownerReferences[0].kind',
      'metadata.ownerReferences[0].name',
      'metadata.ownerReferences[0].uid',
    ]);
    expect(problems(pods, { name: 'p', ownerReferences: {} as never })).toEqual(['metadata.ownerReferences']);
  });
});

describe('timestamp', () => {
  it('is RFC 3339 with second precision, truncated, in UTC', () => {
    expect(timestamp(Date.parse('2026-03-04T05:06:07.999Z'))).toBe('2026-03-04T05:06:07Z');
    expect(timestamp(Date.parse('2026-03-04T05:06:07Z'))).toBe('2026-03-04T05:06:07Z');
  });
});

describe('initMetadata', () => {
  const NOW = Date.parse('2026-01-02T03:04:05.678Z');
  const clientMeta = (): ObjectMeta => ({
    name: 'x',
    uid: 'client-uid',
    resourceVersion: '42',
    generation: 7,
    creationTimestamp: '2000-01-01T00:00:00Z',
    deletionTimestamp: '2000-01-01T00:00:00Z',
    deletionGracePeriodSeconds: 5,
    managedFields: [{ manager: 'x' }],
    labels: { keep: 'me' },
  });

  it('sets a fresh uid and the creation time, dropping what the client claimed', () => {
    const a: KubeObject = { metadata: clientMeta() };
    const b: KubeObject = { metadata: clientMeta() };
    initMetadata(deployments, a, NOW);
    initMetadata(deployments, b, NOW);
    expect(a.metadata.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(a.metadata.uid).not.toBe(b.metadata.uid);
    expect(a.metadata.creationTimestamp).toBe('2026-01-02T03:04:05Z');
    expect(a.metadata.creationTimestamp).toMatch(RFC3339_SECONDS);
    for (const k of ['resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields'] as const) expect(a.metadata).not.toHaveProperty(k);
    // Client-owned fields stay.
    expect(a.metadata.labels).toEqual({ keep: 'me' });
    expect(a.metadata.name).toBe('x');
  });

  it('starts generation at 1 for kinds with specFields, and drops it for the others', () => {
    const d: KubeObject = { metadata: clientMeta() };
    initMetadata(deployments, d, NOW);
    expect(d.metadata.generation).toBe(1);
    const c: KubeObject = { metadata: clientMeta() };
    initMetadata(configmaps, c, NOW);
    expect(c.metadata).not.toHaveProperty('generation');
  });
});

describe('carryMetadata', () => {
  const stored = (): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', uid: 'u-1', creationTimestamp: '2026-01-01T00:00:00Z', generation: 3, resourceVersion: '10', labels: { a: '1' } },
    spec: { replicas: 1, selector: { matchLabels: { app: 'web' } } },
    status: { replicas: 1 },
  });

  it('keeps uid, creationTimestamp and namespace of the stored object whatever the client sent', () => {
    const next = stored();
    next.metadata = { name: 'web', namespace: 'elsewhere', uid: 'forged', creationTimestamp: '1999-01-01T00:00:00Z', generation: 99, managedFields: [{}] };
    carryMetadata(deployments, next, stored());
    expect(next.metadata).toMatchObject({ uid: 'u-1', creationTimestamp: '2026-01-01T00:00:00Z', namespace: 'default', generation: 3 });
    expect(next.metadata).not.toHaveProperty('managedFields');
  });

  it.each<[string, (o: KubeObject) => void, number]>([
    ['nothing changed', () => undefined, 3],
    ['a label changed', (o) => void (o.metadata.labels = { a: '2' }), 3],
    ['an annotation was added', (o) => void (o.metadata.annotations = { note: 'x' }), 3],
    ['the status changed', (o) => void (o.status = { replicas: 5 }), 3],
    ['spec.replicas changed', (o) => void ((o.spec as { replicas: number }).replicas = 2), 4],
    ['the spec was removed', (o) => void delete o.spec, 4],
  ])('when %s generation becomes %i', (_what, change, want) => {
    const next = stored();
    change(next);
    carryMetadata(deployments, next, stored());
    expect(next.metadata.generation).toBe(want);
  });

  it('counts from 1 when the stored object had no generation', () => {
    const old = stored();
    delete old.metadata.generation;
    const next = stored();
    (next.spec as { replicas: number }).replicas = 9;
    carryMetadata(deployments, next, old);
    expect(next.metadata.generation).toBe(2);
  });

  it('a kind without specFields has no generation', () => {
    const next: KubeObject = { metadata: { name: 'c', generation: 4 }, data: { a: '1' } };
    carryMetadata(configmaps, next, { metadata: { name: 'c', uid: 'u' }, data: { a: '2' } });
    expect(next.metadata).not.toHaveProperty('generation');
  });

  it('keeps a deletion in progress and refuses to let a client start or forge one', () => {
    const deleting = stored();
    deleting.metadata.deletionTimestamp = '2026-01-01T01:00:00Z';
    deleting.metadata.deletionGracePeriodSeconds = 30;
    const next = stored();
    carryMetadata(deployments, next, deleting);
    expect(next.metadata).toMatchObject({ deletionTimestamp: '2026-01-01T01:00:00Z', deletionGracePeriodSeconds: 30 });

    const forged = stored();
    forged.metadata.deletionTimestamp = '2026-01-01T01:00:00Z';
    forged.metadata.deletionGracePeriodSeconds = 0;
    carryMetadata(deployments, forged, stored());
    expect(forged.metadata).not.toHaveProperty('deletionTimestamp');
    expect(forged.metadata).not.toHaveProperty('deletionGracePeriodSeconds');
  });

  // Clients re-encode objects with keys in any order: that alone is no change of the spec.
  it('the same spec with keys in another order is not a spec change', () => {
    const next = stored();
    next.spec = { selector: { matchLabels: { app: 'web' } }, replicas: 1 };
    carryMetadata(deployments, next, stored());
    expect(next.metadata.generation).toBe(3);
  });
});

describe('sameObject', () => {
  it('ignores resourceVersion only', () => {
    const a: KubeObject = { metadata: { name: 'x', resourceVersion: '1' }, data: { a: '1' } };
    expect(sameObject(a, { metadata: { name: 'x', resourceVersion: '2' }, data: { a: '1' } })).toBe(true);
    expect(sameObject(a, { metadata: { name: 'x', resourceVersion: '1' }, data: { a: '2' } })).toBe(false);
    expect(sameObject(a, { metadata: { name: 'x', resourceVersion: '1', labels: {} }, data: { a: '1' } })).toBe(false);
  });
});

describe('generatedName', () => {
  it('appends 5 characters from the alphabet that cannot spell words', () => {
    for (let i = 0; i < 200; i++) expect(generatedName('web-')).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  it('is random enough that a few names do not collide', () => {
    const names = new Set(Array.from({ length: 50 }, () => generatedName('x-')));
    expect(names.size).toBeGreaterThan(45);
  });

  it('truncates a long prefix so the name fits a 63-character label', () => {
    const name = generatedName('p'.repeat(100));
    expect(name).toHaveLength(63);
    expect(name.startsWith('p'.repeat(58))).toBe(true);
  });
});
