/**
 * PodLogOptions: the query of `GET …/pods/NAME/log` (what `kubectl logs` sends), parsed and
 * validated once, for the API server that receives it and the kubelet it is passed on to.
 */
import { badRequest, fieldError, invalid } from './status.js';
import { isObject, type KubeObject, type StatusCause } from './meta.js';

export interface PodLogOptions {
  container?: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  limitBytes?: number;
  sinceSeconds?: number;
  /** RFC 3339. */
  sinceTime?: string;
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const BOOLS = ['follow', 'previous', 'timestamps'] as const;
const INTS = [['tailLines', 0], ['limitBytes', 1], ['sinceSeconds', 1]] as const;

function bool(name: string, v: string | undefined): boolean {
  if (v === undefined || v === '' || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw badRequest(`invalid value for "${name}": ${JSON.stringify(v)} is not a boolean`);
}

/** From the query string (first value of each key); 400 for values of the wrong type, 422 for out-of-range ones. */
export function parsePodLogOptions(query: Record<string, string | undefined>, podName: string): PodLogOptions {
  const opts: PodLogOptions = { follow: false, previous: false, timestamps: false };
  for (const b of BOOLS) opts[b] = bool(b, query[b]);
  if (query.container) opts.container = query.container;
  const causes: StatusCause[] = [];
  for (const [name, min] of INTS) {
    const raw = query[name];
    if (raw === undefined || raw === '') continue;
    const n = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n)) throw badRequest(`invalid value for "${name}": ${JSON.stringify(raw)} is not an integer`);
    if (n < min) causes.push(fieldError.invalid(name, n, `must be greater than or equal to ${min}`));
    else opts[name] = n;
  }
  if (query.sinceTime) {
    if (!RFC3339.test(query.sinceTime) || Number.isNaN(Date.parse(query.sinceTime))) throw badRequest(`invalid value for "sinceTime": ${JSON.stringify(query.sinceTime)} is not an RFC 3339 time`);
    opts.sinceTime = query.sinceTime;
  }
  if (query.sinceTime && query.sinceSeconds) causes.push(fieldError.forbidden('sinceSeconds', 'at most one of `sinceTime` or `sinceSeconds` may be specified'));
  if (causes.length > 0) throw invalid('PodLogOptions', { resource: 'pods', group: '', name: podName }, causes);
  return opts;
}

/** The query string that carries `opts` on to the kubelet. */
export function podLogQuery(opts: PodLogOptions): string {
  const q = new URLSearchParams();
  for (const b of BOOLS) if (opts[b]) q.set(b, 'true');
  for (const [name] of INTS) if (opts[name] !== undefined) q.set(name, String(opts[name]));
  if (opts.sinceTime) q.set('sinceTime', opts.sinceTime);
  const s = q.toString();
  return s ? `?${s}` : '';
}

const namesOf = (pod: KubeObject, field: 'containers' | 'initContainers'): string[] => {
  const list = isObject(pod.spec) ? pod.spec[field] : undefined;
  return Array.isArray(list) ? list.filter(isObject).map((c) => String(c.name)) : [];
};

/**
 * The container whose log is asked for: the one named, or the pod's only container. Errors are
 * kube-apiserver's, so kubectl users read what they know.
 */
export function logContainerOf(pod: KubeObject, requested: string | undefined): string {
  const name = pod.metadata.name ?? '';
  const regular = namesOf(pod, 'containers');
  const init = namesOf(pod, 'initContainers');
  if (requested === undefined) {
    if (regular.length === 1) return regular[0];
    const inits = init.length > 0 ? ` or one of the init containers: [${init.join(' ')}]` : '';
    throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${regular.join(' ')}]${inits}`);
  }
  if (!regular.includes(requested) && !init.includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${name}`);
  return requested;
}
