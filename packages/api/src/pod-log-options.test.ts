import { describe, expect, it } from 'vitest';
import type { KubeObject } from './meta.js';
import { logContainerOf, parsePodLogOptions, podLogQuery, type PodLogOptions } from './pod-log-options.js';
import { ApiError } from './status.js';

/** The ApiError `fn` throws (fails the test if it throws nothing, or something else). */
function thrown(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected an ApiError, got none');
}

const parse = (q: Record<string, string | undefined>): PodLogOptions => parsePodLogOptions(q, 'web');

describe('parsePodLogOptions', () => {
  it('defaults every boolean to false and leaves the rest unset', () => {
    expect(parse({})).toEqual({ follow: false, previous: false, timestamps: false });
  });

  it('reads booleans as "true"/"1" and "false"/"0"/""', () => {
    expect(parse({ follow: 'true', previous: '1', timestamps: 'true' })).toEqual({ follow: true, previous: true, timestamps: true });
    expect(parse({ follow: 'false', previous: '0', timestamps: '' })).toEqual({ follow: false, previous: false, timestamps: false });
  });

  it('rejects a bad boolean with 400, naming the parameter', () => {
    const e = thrown(() => parse({ previous: 'yes' }));
    expect(e.code).toBe(400);
    expect(e.reason).toBe('BadRequest');
    expect(e.message).toBe('invalid value for "previous": "yes" is not a boolean');
    expect(thrown(() => parse({ timestamps: 'TRUE' })).message).toContain('"timestamps"');
  });

  it('parses everything given', () => {
    expect(parse({ container: 'app', follow: 'true', tailLines: '10', limitBytes: '2048', sinceSeconds: '60' })).toEqual({
      container: 'app',
      follow: true,
      previous: false,
      timestamps: false,
      tailLines: 10,
      limitBytes: 2048,
      sinceSeconds: 60,
    });
    expect(parse({ sinceTime: '2026-01-01T00:00:00Z' })).toEqual({ follow: false, previous: false, timestamps: false, sinceTime: '2026-01-01T00:00:00Z' });
  });

  it('accepts tailLines 0 and ignores empty integers and an empty container', () => {
    expect(parse({ tailLines: '0' }).tailLines).toBe(0);
    expect(parse({ tailLines: '', limitBytes: '', sinceSeconds: '', container: '' })).toEqual({ follow: false, previous: false, timestamps: false });
  });

  it('rejects tailLines -1 with 422 Invalid, its cause on the field tailLines', () => {
    const e = thrown(() => parse({ tailLines: '-1' }));
    expect(e.code).toBe(422);
    expect(e.reason).toBe('Invalid');
    expect(e.message).toBe('PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0');
    expect(e.status.details).toMatchObject({ kind: 'PodLogOptions', name: 'web' });
    expect(e.status.details?.causes).toEqual([{ reason: 'FieldValueInvalid', field: 'tailLines', message: 'Invalid value: -1: must be greater than or equal to 0' }]);
  });

  it('rejects limitBytes 0 and sinceSeconds 0 with 422', () => {
    const e = thrown(() => parse({ limitBytes: '0' }));
    expect(e.code).toBe(422);
    expect(e.status.details?.causes?.map((c) => c.field)).toEqual(['limitBytes']);
    const s = thrown(() => parse({ sinceSeconds: '0' }));
    expect(s.code).toBe(422);
    expect(s.status.details?.causes?.map((c) => c.field)).toEqual(['sinceSeconds']);
  });

  it('reports every out-of-range field at once', () => {
    const e = thrown(() => parse({ tailLines: '-5', limitBytes: '-1' }));
    expect(e.code).toBe(422);
    expect(e.status.details?.causes?.map((c) => c.field)).toEqual(['tailLines', 'limitBytes']);
  });

  it('rejects sinceSeconds together with sinceTime with 422', () => {
    const e = thrown(() => parse({ sinceSeconds: '10', sinceTime: '2026-01-01T00:00:00Z' }));
    expect(e.code).toBe(422);
    expect(e.reason).toBe('Invalid');
    expect(e.status.details?.causes).toEqual([{ reason: 'FieldValueForbidden', field: 'sinceSeconds', message: 'Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified' }]);
  });

  it('rejects a non-integer with 400', () => {
    for (const [name, raw] of [['tailLines', '1.5'], ['limitBytes', 'abc'], ['sinceSeconds', '10s']] as const) {
      const e = thrown(() => parse({ [name]: raw }));
      expect(e.code).toBe(400);
      expect(e.message).toBe(`invalid value for "${name}": ${JSON.stringify(raw)} is not an integer`);
    }
  });

  it('rejects a bad sinceTime with 400', () => {
    const e = thrown(() => parse({ sinceTime: 'yesterday' }));
    expect(e.code).toBe(400);
    expect(e.message).toBe('invalid value for "sinceTime": "yesterday" is not an RFC 3339 time');
  });
});

describe('podLogQuery', () => {
  it('is empty for the defaults', () => {
    expect(podLogQuery({ follow: false, previous: false, timestamps: false })).toBe('');
  });

  it('carries every option set', () => {
    expect(podLogQuery({ follow: true, previous: false, timestamps: true, tailLines: 0, limitBytes: 5, sinceTime: '2026-01-01T00:00:00Z' })).toBe(
      '?follow=true&timestamps=true&tailLines=0&limitBytes=5&sinceTime=2026-01-01T00%3A00%3A00Z',
    );
  });

  it('round-trips through parsePodLogOptions', () => {
    const cases: PodLogOptions[] = [
      { follow: false, previous: false, timestamps: false },
      { follow: true, previous: true, timestamps: true, tailLines: 0, limitBytes: 1, sinceSeconds: 3600 },
      { follow: false, previous: true, timestamps: false, tailLines: 25, sinceTime: '2026-01-01T12:34:56.789Z' },
    ];
    for (const opts of cases) {
      const query = Object.fromEntries(new URLSearchParams(podLogQuery(opts)));
      expect(parse(query)).toEqual(opts);
    }
  });
});

describe('logContainerOf', () => {
  const pod = (containers: string[], inits: string[] = []): KubeObject => ({
    metadata: { name: 'web', namespace: 'default' },
    spec: { containers: containers.map((name) => ({ name, image: 'busybox' })), ...(inits.length ? { initContainers: inits.map((name) => ({ name, image: 'busybox' })) } : {}) },
  });

  it('defaults to the only container', () => {
    expect(logContainerOf(pod(['app']), undefined)).toBe('app');
    expect(logContainerOf(pod(['app'], ['setup']), undefined)).toBe('app');
  });

  it('asks for a name when there are several containers', () => {
    const e = thrown(() => logContainerOf(pod(['a', 'b']), undefined));
    expect(e.code).toBe(400);
    expect(e.message).toBe('a container name must be specified for pod web, choose one of: [a b]');
  });

  it('lists the init containers too when there are some', () => {
    expect(thrown(() => logContainerOf(pod(['a', 'b'], ['i1', 'i2']), undefined)).message).toBe(
      'a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [i1 i2]',
    );
  });

  it('accepts a named container, regular or init', () => {
    expect(logContainerOf(pod(['a', 'b'], ['init']), 'b')).toBe('b');
    expect(logContainerOf(pod(['a', 'b'], ['init']), 'init')).toBe('init');
  });

  it('rejects an unknown container with 400', () => {
    const e = thrown(() => logContainerOf(pod(['a']), 'x'));
    expect(e.code).toBe(400);
    expect(e.message).toBe('container x is not valid for pod web');
  });
});
