/**
 * The real kubectl against real processes: 3 raftkv members and 2 apiserver replicas. Each test
 * uses its own namespace so they share one cluster (starting it is most of the cost).
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlAvailable, TestKubeCluster } from '../support/kube-cluster.js';
import { waitFor } from '../support/wait.js';

const available = kubectlAvailable();

let cluster: TestKubeCluster;

beforeAll(async () => {
  if (available) cluster = await TestKubeCluster.create({ apiServers: 2 });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

async function k(...args: string[]): Promise<string> {
  const r = await cluster.kubectl(args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function manifest(name: string, text: string): Promise<string> {
  const file = path.join(cluster.home, name);
  await writeFile(file, text);
  return file;
}

const app = (ns: string, image: string, replicas: number, env: string): string => `
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: ${ns}, labels: {app: web}}
data: {a: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx, namespace: ${ns}, labels: {app: nginx}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - name: nginx
        image: ${image}
        ports: [{containerPort: 80}]
        env: [${env}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: ${ns}, labels: {app: web, tier: front}}
spec:
  containers:
  - {name: main, image: busybox, command: [sleep, "3600"]}
`;

describe.skipIf(!available)('kubectl against flotilla apiservers', () => {
  it('applies a multi-document manifest, then applies a change to it', async () => {
    await k('apply', '-f', await manifest('ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: apply-test}\n'));
    const first = await k('apply', '-f', await manifest('app1.yaml', app('apply-test', 'nginx:1.25', 2, '{name: A, value: "1"}, {name: B, value: "2"}')));
    expect(first).toContain('configmap/cfg created');
    expect(first).toContain('deployment.apps/nginx created');
    expect(first).toContain('pod/web created');

    const second = await k('apply', '-f', await manifest('app2.yaml', app('apply-test', 'nginx:1.27', 3, '{name: A, value: "1"}, {name: C, value: "3"}')));
    expect(second).toContain('configmap/cfg unchanged');
    expect(second).toContain('deployment.apps/nginx configured');
    const d = JSON.parse(await k('get', 'deploy', 'nginx', '-n', 'apply-test', '-o', 'json')) as {
      metadata: { generation: number; annotations: Record<string, string> };
      spec: { replicas: number; template: { spec: { containers: { image: string; env: { name: string }[] }[] } } };
    };
    expect(d.spec.replicas).toBe(3);
    expect(d.spec.template.spec.containers[0].image).toBe('nginx:1.27');
    expect(d.spec.template.spec.containers[0].env.map((e) => e.name)).toEqual(['A', 'C']);
    expect(d.metadata.generation).toBe(2);
    expect(d.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain('nginx:1.27');
  });

  it('applies server-side: creates, then updates the same manifest', async () => {
    await k('create', 'namespace', 'ssa-test');
    const cm = (v: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: ssa-test}\ndata: {v: "${v}"}\n`;
    expect(await k('apply', '--server-side', '-f', await manifest('ssa1.yaml', cm('1')))).toContain('configmap/ssa serverside-applied');
    expect(await k('apply', '--server-side', '-f', await manifest('ssa2.yaml', cm('2')))).toContain('configmap/ssa serverside-applied');
    expect(await k('get', 'cm', 'ssa', '-n', 'ssa-test', '-o', 'jsonpath={.data.v}')).toBe('2');
  });

  it('gets tables, wide tables, yaml, json, by label, by field and across namespaces', async () => {
    await k('apply', '-f', await manifest('get-ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: get-test}\n'));
    await k('apply', '-f', await manifest('get.yaml', app('get-test', 'nginx:1.25', 2, '{name: A, value: "1"}')));

    const pods = await k('get', 'pods', '-n', 'get-test');
    expect(pods.split('\n')[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
    expect(pods).toMatch(/web\s+0\/1\s+Pending\s+0\s+\d+s/);
    const wide = await k('get', 'deploy', '-n', 'get-test', '-o', 'wide');
    expect(wide.split('\n')[0]).toMatch(/NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR/);
    expect(wide).toMatch(/nginx\s+0\/2\s+0\s+0\s+\S+\s+nginx\s+nginx:1\.25\s+app=nginx/);
    expect(await k('get', 'cm', 'cfg', '-n', 'get-test', '-o', 'yaml')).toMatch(/kind: ConfigMap[\s\S]*name: cfg/);
    const list = JSON.parse(await k('get', 'pods', '-n', 'get-test', '-o', 'json')) as { items: { metadata: { name: string } }[] };
    expect(list.items.map((p) => p.metadata.name)).toEqual(['web']);
    expect(await k('get', 'pods,cm', '-n', 'get-test', '-l', 'app=web', '-o', 'name')).toBe('pod/web\nconfigmap/cfg\n');
    expect(await k('get', 'cm', '-n', 'get-test', '-l', 'app!=web', '-o', 'name')).not.toContain('configmap/cfg');
    expect(await k('get', 'pods', '-A', '--field-selector', 'metadata.namespace=get-test', '-o', 'name')).toBe('pod/web\n');
    const all = await k('get', 'pods', '-A', '--field-selector', 'spec.nodeName=');
    expect(all.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s+READY/);
    expect(all).toMatch(/get-test\s+web/);
    expect(await k('get', 'all', '-n', 'get-test')).toContain('deployment.apps/nginx');
  });

  it('watches: get -w prints an event for each change', async () => {
    await k('apply', '-f', await manifest('watch-ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: watch-test}\n'));
    const child = spawn('kubectl', ['get', 'cm', '-n', 'watch-test', '-w', '--output-watch-events'], {
      env: { PATH: process.env.PATH, HOME: cluster.home, KUBECONFIG: path.join(cluster.home, 'kubeconfig') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      // A first object the watch must print proves it is running before the changes are made.
      await k('create', '-f', await manifest('s.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sentinel, namespace: watch-test}\n'));
      await waitFor('the watch to print the sentinel', async () => (out.includes('sentinel') ? true : undefined), 15_000);
      const file = await manifest('w.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched, namespace: watch-test}\ndata: {k: v}\n');
      await k('apply', '-f', file);
      await k('patch', 'cm', 'watched', '-n', 'watch-test', '-p', '{"data":{"k":"w"}}');
      await k('delete', '-f', file);
      await waitFor('ADDED, MODIFIED and DELETED rows', async () => (/ADDED\s+watched[\s\S]*MODIFIED\s+watched[\s\S]*DELETED\s+watched/.test(out) ? true : undefined), 15_000);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('scales, labels, annotates and patches in all three patch types', async () => {
    await k('apply', '-f', await manifest('mut-ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: mut-test}\n'));
    await k('apply', '-f', await manifest('mut.yaml', app('mut-test', 'nginx:1.25', 2, '{name: A, value: "1"}')));
    expect(await k('scale', 'deploy/nginx', '-n', 'mut-test', '--replicas=5')).toContain('deployment.apps/nginx scaled');
    expect(await k('get', 'deploy', 'nginx', '-n', 'mut-test', '-o', 'jsonpath={.spec.replicas} {.metadata.generation}')).toBe('5 2');
    expect(await k('label', 'pod', 'web', '-n', 'mut-test', 'owner=alice')).toContain('pod/web labeled');
    expect(await k('annotate', 'pod', 'web', '-n', 'mut-test', 'note=hello')).toContain('pod/web annotated');
    const pod = JSON.parse(await k('get', 'pod', 'web', '-n', 'mut-test', '-o', 'json')) as { metadata: { labels: Record<string, string>; annotations: Record<string, string> } };
    expect(pod.metadata.labels.owner).toBe('alice');
    expect(pod.metadata.annotations.note).toBe('hello');

    await k('patch', 'cm', 'cfg', '-n', 'mut-test', '--type=merge', '-p', '{"data":{"b":"2"}}');
    await k('patch', 'cm', 'cfg', '-n', 'mut-test', '--type=json', '-p', '[{"op":"add","path":"/data/c","value":"3"},{"op":"remove","path":"/data/a"}]');
    expect(await k('get', 'cm', 'cfg', '-n', 'mut-test', '-o', 'jsonpath={.data}')).toBe('{"b":"2","c":"3"}');
    await k('patch', 'deploy', 'nginx', '-n', 'mut-test', '--type=strategic', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}');
    expect(await k('get', 'deploy', 'nginx', '-n', 'mut-test', '-o', 'jsonpath={.spec.template.spec.containers[*].name}')).toBe('nginx sidecar');
    await k('set', 'image', 'deploy/nginx', '-n', 'mut-test', 'nginx=nginx:1.28');
    expect(await k('get', 'deploy', 'nginx', '-n', 'mut-test', '-o', 'jsonpath={.spec.template.spec.containers[0].image}')).toBe('nginx:1.28');
    // A failed JSON Patch test is a conflict, and nothing changes.
    const failed = await cluster.kubectl(['patch', 'cm', 'cfg', '-n', 'mut-test', '--type=json', '-p', '[{"op":"test","path":"/data/b","value":"nope"},{"op":"remove","path":"/data/b"}]']);
    expect(failed.code).not.toBe(0);
    expect(await k('get', 'cm', 'cfg', '-n', 'mut-test', '-o', 'jsonpath={.data.b}')).toBe('2');
  });

  it('describes a pod and deletes objects by name and by file', async () => {
    await k('apply', '-f', await manifest('del-ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: del-test}\n'));
    const file = await manifest('del.yaml', app('del-test', 'nginx:1.25', 1, '{name: A, value: "1"}'));
    await k('apply', '-f', file);
    const described = await k('describe', 'pod', 'web', '-n', 'del-test');
    expect(described).toMatch(/Name:\s+web/);
    expect(described).toMatch(/Namespace:\s+del-test/);
    expect(described).toMatch(/Image:\s+busybox/);
    expect(await k('delete', 'pod', 'web', '-n', 'del-test')).toContain('pod "web" deleted');
    const rest = await k('delete', '-f', file, '--ignore-not-found');
    expect(rest).toContain('configmap "cfg" deleted');
    expect(rest).toContain('deployment.apps "nginx" deleted');
    expect(await k('get', 'all,cm', '-n', 'del-test', '-o', 'name')).toBe('');
  });

  it('runs the typed commands that send protobuf: create namespace|configmap|secret|deployment, auth can-i', async () => {
    expect(await k('create', 'namespace', 'typed')).toContain('namespace/typed created');
    expect(await k('create', 'configmap', 'conf', '-n', 'typed', '--from-literal=mode=fast', '--from-literal=level=3')).toContain('configmap/conf created');
    expect(await k('get', 'cm', 'conf', '-n', 'typed', '-o', 'jsonpath={.data.level},{.data.mode}')).toBe('3,fast');
    expect(await k('create', 'secret', 'generic', 'creds', '-n', 'typed', '--from-literal=password=s3cr3t')).toContain('secret/creds created');
    expect(Buffer.from(await k('get', 'secret', 'creds', '-n', 'typed', '-o', 'jsonpath={.data.password}'), 'base64').toString()).toBe('s3cr3t');
    expect(await k('create', 'deployment', 'web', '-n', 'typed', '--image=nginx:1.25', '--replicas=2', '--port=80')).toContain('deployment.apps/web created');
    const d = JSON.parse(await k('get', 'deploy', 'web', '-n', 'typed', '-o', 'json')) as { spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { spec: { containers: { image: string; ports: { containerPort: number; protocol: string }[] }[] } } } };
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.selector.matchLabels).toEqual({ app: 'web' });
    expect(d.spec.template.spec.containers[0].image).toBe('nginx:1.25');
    expect(d.spec.template.spec.containers[0].ports[0]).toMatchObject({ containerPort: 80, protocol: 'TCP' });
    const can = await cluster.kubectl(['auth', 'can-i', 'create', 'pods']);
    expect(can.stdout.trim()).toBe('yes');
    expect(can.code).toBe(0);
  });

  it('authorizes by RBAC: 403 without a role, allowed once a RoleBinding grants it, can-i tells', async () => {
    await k('create', 'namespace', 'rbac-test');
    const asAlice = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => cluster.kubectl(['--token', cluster.tokens.alice, ...args]);
    const denied = await asAlice('get', 'pods', '-n', 'rbac-test');
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "rbac-test"');
    expect((await asAlice('auth', 'can-i', 'list', 'pods', '-n', 'rbac-test')).stdout.trim()).toBe('no');

    await k('create', '-f', await manifest('rb.yaml', [
      'apiVersion: rbac.authorization.k8s.io/v1', 'kind: RoleBinding', 'metadata: {name: alice-view, namespace: rbac-test}',
      'roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}',
      'subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]', '',
    ].join('\n')));
    // Each replica learns of the binding through its watch, a moment after the write.
    await waitFor('alice to be allowed to list pods', async () => ((await asAlice('get', 'pods', '-n', 'rbac-test')).code === 0 ? true : undefined), 10_000);
    expect((await asAlice('auth', 'can-i', 'list', 'pods', '-n', 'rbac-test')).stdout.trim()).toBe('yes');
    expect((await asAlice('auth', 'can-i', 'delete', 'pods', '-n', 'rbac-test')).stdout.trim()).toBe('no');
    expect((await asAlice('auth', 'can-i', 'list', 'pods', '-n', 'default')).stdout.trim()).toBe('no');
    const write = await asAlice('create', 'configmap', 'x', '-n', 'rbac-test');
    expect(write.stderr).toContain('configmaps is forbidden: User "alice" cannot create resource "configmaps" in API group "" in the namespace "rbac-test"');

    // A kubelet (node-1) changes only its own Node and reads only the secrets of pods bound to it.
    const asNode = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => cluster.kubectl(['--token', cluster.tokens.node1, ...args]);
    expect((await asNode('get', 'secrets', '-A')).stderr).toContain('Forbidden');
    expect((await asNode('auth', 'can-i', 'patch', 'nodes/node-2')).stdout.trim()).toBe('no - node "node-1": may change only its own Node');
    expect((await asNode('auth', 'can-i', 'patch', 'nodes/node-1')).stdout.trim()).toBe('yes');
    await k('create', 'secret', 'generic', 'mine', '-n', 'rbac-test', '--from-literal=a=1');
    await k('create', 'secret', 'generic', 'theirs', '-n', 'rbac-test', '--from-literal=a=2');
    const podUsing = (name: string, node: string, secret: string): string => [
      'apiVersion: v1', 'kind: Pod', `metadata: {name: ${name}, namespace: rbac-test}`,
      `spec: {nodeName: ${node}, containers: [{name: c, image: busybox, env: [{name: A, valueFrom: {secretKeyRef: {name: ${secret}, key: a}}}]}]}`, '',
    ].join('\n');
    await k('create', '-f', await manifest('p1.yaml', podUsing('on-1', 'node-1', 'mine')));
    await k('create', '-f', await manifest('p2.yaml', podUsing('on-2', 'node-2', 'theirs')));
    await waitFor('node-1 to read the secret its pod uses', async () => ((await asNode('get', 'secret', 'mine', '-n', 'rbac-test')).code === 0 ? true : undefined), 10_000);
    expect((await asNode('get', 'secret', 'theirs', '-n', 'rbac-test')).stderr).toContain('Forbidden');
    expect((await asNode('delete', 'pod', 'on-2', '-n', 'rbac-test')).stderr).toContain('Forbidden');
  });

  it('issues service-account tokens (kubectl create token) that act as the account until it is deleted', async () => {
    await k('create', 'namespace', 'sa-test');
    await k('create', 'serviceaccount', 'robot', '-n', 'sa-test');
    await k('create', '-f', await manifest('sa-rb.yaml', [
      'apiVersion: rbac.authorization.k8s.io/v1', 'kind: RoleBinding', 'metadata: {name: robot-view, namespace: sa-test}',
      'roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}',
      'subjects: [{kind: ServiceAccount, name: robot, namespace: sa-test}]', '',
    ].join('\n')));
    const token = (await k('create', 'token', 'robot', '-n', 'sa-test', '--duration', '15m')).trim();
    expect(token.split('.')).toHaveLength(3);
    const asRobot = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => cluster.kubectl(['--token', token, ...args]);
    await waitFor('the robot to be allowed to list pods', async () => ((await asRobot('get', 'pods', '-n', 'sa-test')).code === 0 ? true : undefined), 10_000);
    expect((await asRobot('auth', 'can-i', 'list', 'pods', '-n', 'sa-test')).stdout.trim()).toBe('yes');
    expect((await asRobot('auth', 'can-i', 'list', 'secrets', '-n', 'sa-test')).stdout.trim()).toBe('no');
    // Deleting the account revokes its tokens.
    await k('delete', 'serviceaccount', 'robot', '-n', 'sa-test');
    const after = await asRobot('get', 'pods', '-n', 'sa-test');
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('You must be logged in to the server (Unauthorized)');
    // No account, no token.
    const missing = await cluster.kubectl(['create', 'token', 'nobody', '-n', 'sa-test']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('serviceaccounts "nobody" not found');
  });

  it('refuses a wrong token: kubectl says to log in', async () => {
    const r = await cluster.kubectl(['get', 'pods', '--token', 'not-the-token']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('You must be logged in to the server (Unauthorized)');
  });

  it('prints the server\'s errors the way kubectl users know them', async () => {
    const bad = await cluster.kubectl(['apply', '-f', await manifest('bad.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {containers: [{name: c}]}\n')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('The Pod "Bad_Name" is invalid');
    expect(bad.stderr).toContain('metadata.name: Invalid value: "Bad_Name"');
    expect(bad.stderr).toContain('spec.containers[0].image: Required value');

    const missing = await cluster.kubectl(['get', 'pod', 'nope']);
    expect(missing.stderr).toContain('Error from server (NotFound): pods "nope" not found');

    const cm = await manifest('dup.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dup}\n');
    await k('create', '-f', cm);
    const again = await cluster.kubectl(['create', '-f', cm]);
    expect(again.stderr).toContain('Error from server (AlreadyExists): error when creating');
    expect(again.stderr).toContain('configmaps "dup" already exists');

    const noNs = await cluster.kubectl(['apply', '-f', await manifest('nons.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: does-not-exist}\n')]);
    expect(noNs.stderr).toContain('namespaces "does-not-exist" not found');

    const unknownKind = await cluster.kubectl(['apply', '-f', await manifest('kind.yaml', 'apiVersion: v1\nkind: Gizmo\nmetadata: {name: x}\n')]);
    expect(unknownKind.code).toBe(1);
    expect(unknownKind.stderr).toMatch(/no matches for kind "Gizmo"/);
  });
});
