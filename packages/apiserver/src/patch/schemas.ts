/**
 * Strategic-merge schemas of the built-in kinds Flotilla serves. They record the list strategies
 * and merge keys of the Kubernetes API types (the `patchStrategy`/`patchMergeKey` markers of the
 * Go types, as shown in the API reference), because kubectl computes its patches from the same
 * markers: a list merged by key here must be merged by the same key kubectl assumed.
 *
 * Lists not mentioned are replaced whole, as they are in Kubernetes: container args/command,
 * envFrom, tolerations, readinessGates, node taints, LoadBalancer ingress, selectors' terms…
 */
import type { PatchSchema } from './strategic-merge.js';

/** metadata: finalizers merge as a set, ownerReferences by uid; labels/annotations merge as maps. */
export const objectMetaPatchSchema: PatchSchema = {
  fields: {
    finalizers: { strategy: 'merge' },
    ownerReferences: { mergeKey: 'uid' },
  },
};

/** Fields shared by containers, init containers and ephemeral containers. */
const containerFields: PatchSchema['fields'] = {
  env: { mergeKey: 'name' },
  ports: { mergeKey: 'containerPort' },
  volumeMounts: { mergeKey: 'mountPath' },
  volumeDevices: { mergeKey: 'devicePath' },
};

export const podSpecPatchSchema: PatchSchema = {
  fields: {
    containers: { mergeKey: 'name', fields: containerFields },
    initContainers: { mergeKey: 'name', fields: containerFields },
    ephemeralContainers: { mergeKey: 'name', fields: containerFields },
    // A volume's source is a union: switching emptyDir → configMap arrives with $retainKeys.
    volumes: { mergeKey: 'name', retainKeys: true },
    imagePullSecrets: { mergeKey: 'name' },
    hostAliases: { mergeKey: 'ip' },
    topologySpreadConstraints: { mergeKey: 'topologyKey' },
    resourceClaims: { mergeKey: 'name', retainKeys: true },
    schedulingGates: { mergeKey: 'name' },
    // Tolerations have no merge key in Kubernetes: a patch replaces the whole list.
  },
};

export const podTemplatePatchSchema: PatchSchema = {
  fields: { metadata: objectMetaPatchSchema, spec: podSpecPatchSchema },
};

/** conditions merged by type: the shape of every workload status. */
const conditionsStatus: PatchSchema = { fields: { conditions: { mergeKey: 'type' } } };

/**
 * A kind's schema from its top-level fields other than metadata, which every kind shares.
 * `resourcePatchSchema({})` is a kind with nothing to merge by key beyond its metadata.
 */
export function resourcePatchSchema(fields: { readonly [field: string]: PatchSchema }): PatchSchema {
  return { fields: { metadata: objectMetaPatchSchema, ...fields } };
}

/** Any kind without list semantics of its own (ConfigMap, Secret, Namespace, …). */
export const genericPatchSchema: PatchSchema = resourcePatchSchema({});

export const podPatchSchema: PatchSchema = resourcePatchSchema({
  spec: podSpecPatchSchema,
  status: conditionsStatus,
});

export const deploymentPatchSchema: PatchSchema = resourcePatchSchema({
  spec: {
    fields: {
      template: podTemplatePatchSchema,
      // Recreate vs RollingUpdate is a union: switching type drops rollingUpdate via $retainKeys.
      strategy: { retainKeys: true },
    },
  },
  status: conditionsStatus,
});

export const replicaSetPatchSchema: PatchSchema = resourcePatchSchema({
  spec: { fields: { template: podTemplatePatchSchema } },
  status: conditionsStatus,
});

export const servicePatchSchema: PatchSchema = resourcePatchSchema({
  spec: { fields: { ports: { mergeKey: 'port' } } },
  status: conditionsStatus,
});

export const nodePatchSchema: PatchSchema = resourcePatchSchema({
  spec: { fields: { podCIDRs: { strategy: 'merge' } } },
  status: { fields: { conditions: { mergeKey: 'type' }, addresses: { mergeKey: 'type' } } },
});
