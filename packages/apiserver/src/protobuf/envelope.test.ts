import { describe, expect, it } from 'vitest';
import { decodeKubernetesProtobuf, hasKubernetesProtobufMagic } from './envelope.js';
import { KIND_SCHEMAS, findKindSchema } from './schema.js';
import {
  bool,
  bytes,
  catchProtobufError,
  concat,
  dump,
  entry,
  envelope,
  goObjectMeta,
  int,
  msg,
  prng,
  str,
  stringMap,
  varint,
} from './testing.js';
import { ProtobufError } from './wire.js';

/**
 * `kubectl auth can-i create pods` as captured in kubectl-wire.md §11.1. The reference elides
 * the contents of the empty ObjectMeta (0x10 bytes) and of the empty status (8 bytes); they are
 * what gogo-protobuf writes for those Go structs: every non-pointer field with its zero value
 * (ObjectMeta name…resourceVersion "", generation 0, creationTimestamp as an empty Time;
 * status allowed false, reason "", evaluationError "", denied false). The lengths match.
 */
const canICreatePods = dump(`
  6b38 7300
  0a32 0a17 "authorization.k8s.io/v1" 1217 "SelfSubjectAccessReview"
  123f
    0a10 0a00 1200 1a00 2200 2a00 3200 3800 4200
    1221 0a1f 0a07 "default" 1206 "create" 1a00 2200 2a04 "pods" 3200 3a00
    1a08 0800 1200 1a00 2000
  1a00 2200
`);

/** `kubectl auth can-i get /healthz`: spec field 2 instead of 1. */
const canIGetHealthz = envelope(
  'authorization.k8s.io/v1',
  'SelfSubjectAccessReview',
  concat(
    goObjectMeta(1),
    msg(2, msg(2, str(1, '/healthz'), str(2, 'get'))),
    msg(3, bool(1, false), str(2, ''), str(3, ''), bool(4, false)),
  ),
);

/** A container as gogo writes it for `--image=nginx:1.25 --port=80`: value fields included. */
const nginxContainer = msg(
  2,
  str(1, 'nginx'),
  str(2, 'nginx:1.25'),
  str(5, ''),
  msg(6, str(1, ''), int(2, 0), int(3, 80), str(4, ''), str(5, '')),
  msg(8),
  str(13, ''),
  str(14, ''),
  bool(16, false),
  bool(17, false),
  bool(18, false),
  str(20, ''),
);

/** PodSpec with its non-pointer fields, including some (serviceAccount 9, hostPID 12…) not described. */
const goPodSpec = (...containers: Uint8Array[]) =>
  concat(
    ...containers,
    str(3, ''),
    str(6, ''),
    str(8, ''),
    str(9, ''),
    str(10, ''),
    bool(11, false),
    bool(12, false),
    bool(13, false),
    str(16, ''),
    str(17, ''),
    str(19, ''),
    str(24, ''),
  );

/** `kubectl create deployment web --image=nginx:1.25 --replicas=2 --port=80` */
const createDeployment = envelope(
  'apps/v1',
  'Deployment',
  concat(
    goObjectMeta(1, { name: 'web', namespace: 'default', labels: { app: 'web' } }),
    msg(
      2,
      int(1, 2),
      msg(2, stringMap(1, { app: 'web' })),
      msg(3, goObjectMeta(1, { labels: { app: 'web' } }), msg(2, goPodSpec(nginxContainer))),
      msg(4, str(1, '')),
      int(5, 0),
      bool(7, false),
    ),
    msg(3, int(1, 0), int(2, 0), int(3, 0), int(4, 0), int(5, 0), int(7, 0)),
  ),
);

/** What the same command sends when it speaks JSON (`creationTimestamp: null` is a zero Time). */
const createDeploymentJson = {
  kind: 'Deployment',
  apiVersion: 'apps/v1',
  metadata: { name: 'web', namespace: 'default', creationTimestamp: null, labels: { app: 'web' } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { creationTimestamp: null, labels: { app: 'web' } },
      spec: { containers: [{ name: 'nginx', image: 'nginx:1.25', ports: [{ containerPort: 80 }], resources: {} }] },
    },
    strategy: {},
  },
  status: {},
};

const binary = Uint8Array.of(0x00, 0x01, 0xfe, 0xff, 0x80, 0x0a);

/** `kubectl create secret generic creds --from-literal=user=admin --from-file=key.bin` */
const createSecret = envelope(
  'v1',
  'Secret',
  concat(
    goObjectMeta(1, { name: 'creds', namespace: 'default' }),
    entry(2, 'key.bin', bytes(2, binary)),
    entry(2, 'user', str(2, 'admin')),
    str(3, ''),
  ),
);

/** `kubectl create configmap settings --from-literal=mode=fast --from-literal=empty= --from-file=blob` */
const createConfigMap = envelope(
  'v1',
  'ConfigMap',
  concat(
    goObjectMeta(1, { name: 'settings', namespace: 'default' }),
    stringMap(2, { mode: 'fast', empty: '' }),
    entry(3, 'blob', bytes(2, binary)),
  ),
);

/** `kubectl create namespace team-a` */
const createNamespace = envelope('v1', 'Namespace', concat(goObjectMeta(1, { name: 'team-a' }), msg(2), msg(3, str(1, ''))));

/** `kubectl create serviceaccount robot` */
const createServiceAccount = envelope('v1', 'ServiceAccount', goObjectMeta(1, { name: 'robot', namespace: 'default' }));

/** `kubectl create token robot --duration=1h --audience=api --audience=vault --bound-object-kind=Pod …` */
const createToken = envelope(
  'authentication.k8s.io/v1',
  'TokenRequest',
  concat(
    goObjectMeta(1),
    msg(2, str(1, 'api'), str(1, 'vault'), msg(3, str(1, 'Pod'), str(2, 'v1'), str(3, 'runner'), str(4, '')), int(4, 3600)),
    msg(3, str(1, ''), msg(2)),
  ),
);

/** `kubectl auth whoami` */
const whoami = (apiVersion: string) =>
  envelope(apiVersion, 'SelfSubjectReview', concat(goObjectMeta(1), msg(2, msg(1, str(1, '')))));

const samples: Record<string, Uint8Array> = {
  canICreatePods,
  canIGetHealthz,
  createDeployment,
  createSecret,
  createConfigMap,
  createNamespace,
  createServiceAccount,
  createToken,
  whoami: whoami('authentication.k8s.io/v1'),
};

/** Drops `creationTimestamp: null`: the decoder omits a zero Time instead of writing null. */
function withoutNullTimes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNullTimes);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k, x]) => !(k === 'creationTimestamp' && x === null))
      .map(([k, x]) => [k, withoutNullTimes(x)]),
  );
}

describe('decodeKubernetesProtobuf: what kubectl sends', () => {
  it('decodes `auth can-i create pods` byte for byte from the captured dump', () => {
    expect(canICreatePods.length).toBe(4 + 2 + 0x32 + 2 + 0x3f + 4);
    // Empty strings are dropped, as kubectl's JSON (omitempty) would drop them.
    expect(decodeKubernetesProtobuf(canICreatePods)).toEqual({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      object: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        metadata: {},
        spec: { resourceAttributes: { namespace: 'default', verb: 'create', resource: 'pods' } },
        status: {},
      },
    });
  });

  it('decodes `auth can-i get /healthz` (non-resource attributes)', () => {
    expect(decodeKubernetesProtobuf(canIGetHealthz).object).toEqual({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      metadata: {},
      spec: { nonResourceAttributes: { path: '/healthz', verb: 'get' } },
      status: {},
    });
  });

  it('decodes `create deployment` into what kubectl sends as JSON', () => {
    const { apiVersion, kind, object } = decodeKubernetesProtobuf(createDeployment);
    expect([apiVersion, kind]).toEqual(['apps/v1', 'Deployment']);
    expect(object).toEqual(withoutNullTimes(createDeploymentJson));
    // The JSON form round-trips: nothing in it is a BigInt, a typed array or undefined.
    expect(JSON.parse(JSON.stringify(object))).toEqual(object);
  });

  it('decodes `create secret generic` with binary data as base64', () => {
    expect(decodeKubernetesProtobuf(createSecret).object).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'creds', namespace: 'default' },
      data: { 'key.bin': Buffer.from(binary).toString('base64'), user: Buffer.from('admin').toString('base64') },
    });
    expect(Buffer.from(binary).toString('base64')).toBe('AAH+/4AK');
    const typed = envelope('v1', 'Secret', concat(goObjectMeta(1, { name: 's' }), str(3, 'Opaque'), bool(5, false)));
    expect(decodeKubernetesProtobuf(typed).object).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      type: 'Opaque',
      immutable: false,
    });
  });

  it('decodes `create configmap`, keeping empty values and binaryData as base64', () => {
    expect(decodeKubernetesProtobuf(createConfigMap).object).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'settings', namespace: 'default' },
      data: { mode: 'fast', empty: '' },
      binaryData: { blob: 'AAH+/4AK' },
    });
  });

  it('decodes `create namespace` and `create serviceaccount`', () => {
    expect(decodeKubernetesProtobuf(createNamespace).object).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'team-a' },
      spec: {},
      status: {},
    });
    expect(decodeKubernetesProtobuf(createServiceAccount).object).toEqual({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'robot', namespace: 'default' },
    });
  });

  it('decodes `create token`', () => {
    expect(decodeKubernetesProtobuf(createToken).object).toEqual({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      metadata: {},
      spec: {
        audiences: ['api', 'vault'],
        boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'runner' },
        expirationSeconds: 3600,
      },
      status: {},
    });
  });

  it('decodes `auth whoami` in v1 and in the v1beta1 it falls back to', () => {
    for (const apiVersion of ['authentication.k8s.io/v1', 'authentication.k8s.io/v1beta1']) {
      expect(decodeKubernetesProtobuf(whoami(apiVersion)).object).toEqual({
        apiVersion,
        kind: 'SelfSubjectReview',
        metadata: {},
        status: {},
      });
    }
  });

  it('accepts the explicit protobuf content type, skips unknown envelope fields, and a Buffer', () => {
    const raw = goObjectMeta(1, { name: 'x' });
    const body = concat(envelope('v1', 'Namespace', raw, { contentType: 'application/vnd.kubernetes.protobuf' }), int(9, 1));
    expect(decodeKubernetesProtobuf(Buffer.from(body)).object).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'x' },
    });
  });

  it('describes every kind in the table, once', () => {
    const keys = KIND_SCHEMAS.map((k) => `${k.apiVersion} ${k.kind}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const k of KIND_SCHEMAS) expect(findKindSchema(k.apiVersion, k.kind)).toBe(k.schema);
    expect(findKindSchema('v1', 'Pod')).toBeUndefined();
    expect(findKindSchema('apps/v1beta1', 'Deployment')).toBeUndefined();
  });
});

describe('decodeKubernetesProtobuf: refusals', () => {
  it('names an unknown kind and marks it unsupported (kube-apiserver answers 415)', () => {
    const err = catchProtobufError(() => decodeKubernetesProtobuf(envelope('v1', 'Pod', goObjectMeta(1, { name: 'p' }))));
    expect(err.message).toBe('protobuf bodies of kind Pod (v1) are not supported; send JSON');
    expect(err.unsupported).toBe(true);
    expect(err.code).toBe('INVALID_PROTOBUF');
  });

  it('refuses content encodings and other content types as unsupported', () => {
    const gzipped = envelope('v1', 'Namespace', new Uint8Array(0), { contentEncoding: 'gzip' });
    const gz = catchProtobufError(() => decodeKubernetesProtobuf(gzipped));
    expect(gz.message).toMatch(/content encoding "gzip"/);
    expect(gz.unsupported).toBe(true);
    const json = catchProtobufError(() =>
      decodeKubernetesProtobuf(envelope('v1', 'Namespace', new Uint8Array(0), { contentType: 'application/json' })),
    );
    expect(json.unsupported).toBe(true);
  });

  it('refuses a body without the magic, such as JSON sent with the wrong content type', () => {
    expect(hasKubernetesProtobufMagic(canICreatePods)).toBe(true);
    const bodies = [
      new Uint8Array(0),
      Uint8Array.of(0x6b, 0x38, 0x73),
      Buffer.from('{"kind":"Namespace"}'),
      Uint8Array.of(0x6b, 0x38, 0x73, 0x01, 0x0a, 0x00),
    ];
    for (const body of bodies) {
      const err = catchProtobufError(() => decodeKubernetesProtobuf(body));
      expect(err.message).toMatch(/does not start with/);
      expect(err.unsupported).toBe(false);
    }
  });

  it('refuses an envelope without kind or apiVersion', () => {
    const magic = Uint8Array.of(0x6b, 0x38, 0x73, 0x00);
    expect(catchProtobufError(() => decodeKubernetesProtobuf(magic)).message).toMatch(/names no kind/);
    expect(catchProtobufError(() => decodeKubernetesProtobuf(concat(magic, msg(1, str(2, 'Secret'))))).message).toMatch(
      /kind Secret names no apiVersion/,
    );
    expect(() => decodeKubernetesProtobuf(concat(magic, int(1, 3)))).toThrow(/wire type 0/);
    const noRaw = concat(magic, msg(1, str(1, 'v1'), str(2, 'Secret')));
    expect(catchProtobufError(() => decodeKubernetesProtobuf(noRaw)).message).toBe(
      'the protobuf envelope of kind Secret carries no object',
    );
    // An empty object is zero bytes of raw, which is fine.
    expect(decodeKubernetesProtobuf(envelope('v1', 'Secret', new Uint8Array(0))).object).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
    });
  });

  it('refuses every truncation that cuts into the object; never throws anything but ProtobufError', () => {
    for (const [name, body] of Object.entries(samples)) {
      const full = decodeKubernetesProtobuf(body);
      // Every sample ends with the two empty strings contentEncoding and contentType (4 bytes).
      const rawEnd = body.length - 4;
      for (let n = 0; n < body.length; n++) {
        const prefix = body.subarray(0, n);
        let result: unknown;
        try {
          result = decodeKubernetesProtobuf(prefix);
        } catch (err) {
          expect(err, `${name} cut at ${n}`).toBeInstanceOf(ProtobufError);
          continue;
        }
        expect(n, `${name} cut at ${n} decoded`).toBeGreaterThanOrEqual(rawEnd);
        expect(result).toEqual(full);
      }
    }
  });

  it('survives random corruption with only ProtobufErrors', () => {
    const random = prng(20240611);
    const bodies = Object.values(samples);
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      const body = Uint8Array.from(bodies[i % bodies.length]);
      const flips = 1 + Math.floor(random() * 3);
      for (let f = 0; f < flips; f++) body[4 + Math.floor(random() * (body.length - 4))] = Math.floor(random() * 256);
      try {
        JSON.stringify(decodeKubernetesProtobuf(body));
      } catch (err) {
        if (!(err instanceof ProtobufError)) throw new Error(`iteration ${i}: ${String(err)}`, { cause: err });
        refused++;
      }
    }
    for (let i = 0; i < 5000; i++) {
      const garbage = Uint8Array.from({ length: 4 + Math.floor(random() * 200) }, () => Math.floor(random() * 256));
      garbage.set([0x6b, 0x38, 0x73, 0x00]);
      expect(() => decodeKubernetesProtobuf(garbage)).toThrow(ProtobufError);
    }
    expect(refused).toBeGreaterThan(1000);
  });

  // Allocating what these lengths claim would take gigabytes: the test would run out of memory
  // or time out instead of passing.
  it('refuses oversized lengths without allocating them', () => {
    const magic = Uint8Array.of(0x6b, 0x38, 0x73, 0x00);
    const hostile = [
      concat(magic, Uint8Array.of(0x12), varint(2 ** 31), Uint8Array.of(1, 2, 3)),
      concat(magic, Uint8Array.of(0x12), varint(2 ** 62)),
      concat(magic, Uint8Array.of(0x12), Uint8Array.from(Array<number>(10).fill(0xff))),
      concat(magic, Uint8Array.of(0x0a), varint(0xffff_ffff)),
      // Plausible envelope, hostile length inside the object: metadata claiming 1 GiB.
      envelope('v1', 'Namespace', concat(Uint8Array.of(0x0a), varint(2 ** 30), Uint8Array.of(0x0a, 0x00))),
      // A map entry claiming more than its message holds.
      envelope('v1', 'ConfigMap', msg(2, Uint8Array.of(0x0a), varint(2 ** 40))),
    ];
    for (const body of hostile) expect(() => decodeKubernetesProtobuf(body)).toThrow(ProtobufError);
  });

  // A quadratic decoder would take minutes here and hit the test timeout.
  it('decodes a body with 100,000 fields', () => {
    const count = 50_000;
    const labels: Record<string, string> = {};
    for (let i = 0; i < count; i++) labels[`k${i}`] = `v${i}`;
    const unknownFields = Array.from({ length: count }, (_, i) => str(99, `unknown ${i}`));
    const raw = concat(goObjectMeta(1, { name: 'big', labels }), ...unknownFields);
    const { object } = decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', raw));
    expect(Object.keys((object.metadata as { labels: object }).labels)).toHaveLength(count);
  });
});
