/**
 * Each replica's copy of the RBAC objects, kept current by list+watch on raftkv, so authorizing
 * a request reads memory, not storage. Like Kubernetes, a change reaches the authorizer a moment
 * after it is written (one watch delivery), never mid-request.
 */
import type { KubeObject } from '@flotilla/api';
import type { Logger } from 'pino';
import type { Registry } from '../registry/registry.js';
import { qualifiedResource } from '../registry/types.js';
import { listPrefix, type Store } from '../storage/store.js';
import { rbacStateOf, type RbacState } from './rbac.js';

const KINDS = ['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings'] as const;
type RbacKind = (typeof KINDS)[number];

export class RbacCache {
  private readonly objects = new Map<RbacKind, Map<string, KubeObject>>(KINDS.map((k) => [k, new Map()]));
  private cached: RbacState | undefined;
  private readonly handles: { cancel(): void }[] = [];
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {}

  state(): RbacState {
    this.cached ??= rbacStateOf({
      roles: [...this.objects.get('roles')!.values()],
      clusterRoles: [...this.objects.get('clusterroles')!.values()],
      roleBindings: [...this.objects.get('rolebindings')!.values()],
      clusterRoleBindings: [...this.objects.get('clusterrolebindings')!.values()],
    });
    return this.cached;
  }

  /** Lists everything, then follows changes; resolves once the first list is in. */
  async start(): Promise<void> {
    await Promise.all(KINDS.map((k) => this.sync(k)));
  }

  private prefix(kind: RbacKind): string {
    const def = this.registry.lookup('rbac.authorization.k8s.io', 'v1', kind);
    if (!def) throw new Error(`registry has no ${kind}`);
    return listPrefix({ qualified: qualifiedResource(def), namespaced: def.namespaced });
  }

  private async sync(kind: RbacKind): Promise<void> {
    const prefix = this.prefix(kind);
    const page = await this.store.list(prefix);
    const map = new Map<string, KubeObject>();
    for (const o of page.items) map.set(keyOf(o), o);
    this.objects.set(kind, map);
    this.cached = undefined;
    const handle = this.store.watch(prefix, page.revision, (events) => {
      if (events.length === 0) return;
      const m = this.objects.get(kind)!;
      for (const e of events) {
        if (e.type === 'DELETED') m.delete(keyOf(e.object));
        else m.set(keyOf(e.object), e.object);
      }
      this.cached = undefined;
    }, (err) => {
      // Compaction or a storage failure: start over with a fresh list.
      this.log.warn({ kind, err: err.message }, 'RBAC watch ended; listing again');
      if (this.stopped) return;
      this.retry = setTimeout(() => void this.sync(kind).catch((e: Error) => this.log.error({ kind, err: e.message }, 'RBAC re-list failed')), 500);
    });
    this.handles.push(handle);
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    for (const h of this.handles) h.cancel();
  }
}

function keyOf(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
}
