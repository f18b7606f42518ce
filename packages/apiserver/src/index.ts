/**
 * @flotilla/apiserver: the Kubernetes API over raftkv. ApiServer runs one replica; buildApp is
 * the REST surface on its own (for tests with inject()); the registry holds the resources.
 */
export { ApiServer, type ApiServerOptions } from './server.js';
export { buildApp, type AppOptions, MAX_BODY_BYTES } from './http/app.js';
export { builtinRegistry, Registry } from './registry/registry.js';
export type { ResourceDef, PrinterColumn } from './registry/types.js';
export { Store } from './storage/store.js';
export { ApiServerMetrics } from './metrics.js';
// The cluster's certificates are made by the client library's cert module (tools and tests use it too).
export { createCA, issue, newToken, serviceAccountKeyPair, type KeyPair, type IssueOptions } from '@flotilla/client';
export { Authenticator, parseTokenFile, type UserInfo } from './auth/authn.js';
