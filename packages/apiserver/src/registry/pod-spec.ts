/**
 * Defaults and checks of a PodSpec, shared by Pods and by the pod templates of Deployments and
 * ReplicaSets (so a bad template is refused when the Deployment is written, not later when the
 * controller's pods are).
 */
import { compareQuantities, fieldError, isObject, parseQuantity, QuantityError, type Quantity, type StatusCause } from '@flotilla/api';
import { arr, objects, setDefault, str, type Json } from './fields.js';

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Always for an untagged or :latest image, otherwise IfNotPresent (as Kubernetes defaults). */
function defaultPullPolicy(image: unknown): string {
  if (typeof image !== 'string') return 'IfNotPresent';
  const afterSlash = image.slice(image.lastIndexOf('/') + 1);
  if (afterSlash.includes('@')) return 'IfNotPresent';
  const colon = afterSlash.indexOf(':');
  return colon < 0 || afterSlash.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

export function defaultPodSpec(s: Json): void {
  setDefault(s, 'restartPolicy', 'Always');
  setDefault(s, 'terminationGracePeriodSeconds', 30);
  setDefault(s, 'dnsPolicy', 'ClusterFirst');
  setDefault(s, 'schedulerName', 'default-scheduler');
  setDefault(s, 'securityContext', {});
  setDefault(s, 'enableServiceLinks', true);
  setDefault(s, 'priority', 0);
  if (str(s.serviceAccountName) === undefined && str(s.serviceAccount) !== undefined) s.serviceAccountName = s.serviceAccount;
  setDefault(s, 'serviceAccountName', 'default');
  for (const field of ['initContainers', 'containers'] as const) {
    for (const c of objects(s[field])) {
      setDefault(c, 'imagePullPolicy', defaultPullPolicy(c.image));
      setDefault(c, 'terminationMessagePath', '/dev/termination-log');
      setDefault(c, 'terminationMessagePolicy', 'File');
      setDefault(c, 'resources', {});
      for (const p of objects(c.ports)) setDefault(p, 'protocol', 'TCP');
    }
  }
}

/**
 * requests and limits: valid, non-negative quantities ("500m", "1Gi"), and no request above its
 * limit (the scheduler places pods by requests; a request the limit can never allow is a typo).
 */
function validateResources(resources: unknown, path: string): StatusCause[] {
  if (resources === undefined || resources === null) return [];
  if (!isObject(resources)) return [fieldError.invalid(path, resources, 'must be an object')];
  const causes: StatusCause[] = [];
  const parsed: Record<'requests' | 'limits', Map<string, Quantity>> = { requests: new Map(), limits: new Map() };
  for (const kind of ['requests', 'limits'] as const) {
    const m = resources[kind];
    if (m === undefined || m === null) continue;
    if (!isObject(m)) {
      causes.push(fieldError.invalid(`${path}.${kind}`, m, 'must be a map of resource names to quantities'));
      continue;
    }
    for (const [name, v] of Object.entries(m)) {
      const field = `${path}.${kind}[${name}]`;
      if (typeof v !== 'string' && typeof v !== 'number') {
        causes.push(fieldError.invalid(field, v, 'must be a quantity such as "500m" or "1Gi"'));
        continue;
      }
      try {
        const q = parseQuantity(v);
        if (q.milli < 0) causes.push(fieldError.invalid(field, v, 'must be greater than or equal to 0'));
        else parsed[kind].set(name, q);
      } catch (err) {
        causes.push(fieldError.invalid(field, v, err instanceof QuantityError ? "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" : String(err)));
      }
    }
  }
  for (const [name, req] of parsed.requests) {
    const lim = parsed.limits.get(name);
    if (lim && compareQuantities(req, lim) > 0) causes.push(fieldError.invalid(`${path}.requests[${name}]`, req.text, `must be less than or equal to ${name} limit of ${lim.text}`));
  }
  return causes;
}

export function validatePodSpec(s: Json, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const containers = s.containers;
  if (!Array.isArray(containers) || containers.length === 0) {
    causes.push(fieldError.required(`${path}.containers`));
  }
  const names = new Set<string>();
  for (const field of ['initContainers', 'containers'] as const) {
    for (const [i, c] of arr(s[field]).entries()) {
      const cp = `${path}.${field}[${i}]`;
      if (!isObject(c)) {
        causes.push(fieldError.invalid(cp, c, 'must be an object'));
        continue;
      }
      const name = c.name;
      if (typeof name !== 'string' || name === '') causes.push(fieldError.required(`${cp}.name`));
      else if (name.length > 63 || !DNS_LABEL.test(name)) causes.push(fieldError.invalid(`${cp}.name`, name, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"));
      else if (names.has(name)) causes.push(fieldError.duplicate(`${cp}.name`, name));
      else names.add(name);
      if (typeof c.image !== 'string' || c.image.trim() === '') causes.push(fieldError.required(`${cp}.image`));
      if (c.imagePullPolicy !== undefined && !PULL_POLICIES.includes(String(c.imagePullPolicy))) {
        causes.push(fieldError.notSupported(`${cp}.imagePullPolicy`, c.imagePullPolicy, PULL_POLICIES));
      }
      for (const key of ['command', 'args'] as const) {
        if (c[key] !== undefined && (!Array.isArray(c[key]) || (c[key] as unknown[]).some((x) => typeof x !== 'string'))) {
          causes.push(fieldError.invalid(`${cp}.${key}`, c[key], 'must be a list of strings'));
        }
      }
      for (const [j, p] of arr(c.ports).entries()) {
        const pp = `${cp}.ports[${j}]`;
        if (!isObject(p)) continue;
        const port = p.containerPort;
        if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
          causes.push(fieldError.invalid(`${pp}.containerPort`, port, 'must be between 1 and 65535, inclusive'));
        }
        if (p.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(String(p.protocol))) {
          causes.push(fieldError.notSupported(`${pp}.protocol`, p.protocol, ['TCP', 'UDP', 'SCTP']));
        }
      }
      causes.push(...validateResources(c.resources, `${cp}.resources`));
      for (const [j, e] of arr(c.env).entries()) {
        if (!isObject(e) || typeof e.name !== 'string' || e.name === '') causes.push(fieldError.required(`${cp}.env[${j}].name`));
      }
    }
  }
  if (s.restartPolicy !== undefined && !RESTART_POLICIES.includes(String(s.restartPolicy))) {
    causes.push(fieldError.notSupported(`${path}.restartPolicy`, s.restartPolicy, RESTART_POLICIES));
  }
  const grace = s.terminationGracePeriodSeconds;
  if (grace !== undefined && (typeof grace !== 'number' || !Number.isInteger(grace) || grace < 0)) {
    causes.push(fieldError.invalid(`${path}.terminationGracePeriodSeconds`, grace, 'must be greater than or equal to 0'));
  }
  return causes;
}
