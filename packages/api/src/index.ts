/**
 * @flotilla/api: what every Flotilla component shares about the Kubernetes API — object and meta
 * types, the ApiError/Status boundary, label and field selectors, validation helpers.
 */
export * from './meta.js';
export * from './status.js';
export * from './selectors.js';
export * from './validation.js';
export * from './pod-log-options.js';
