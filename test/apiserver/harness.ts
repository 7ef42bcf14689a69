// The real-API-server suite's entry: everything of test/support/test-cluster.ts, and a `describe` that skips the suite
// when KUBEBUILDER_ASSETS is not set (the project's global setup prints how to enable it, once).
import { describe } from 'vitest';
import { assets } from '../support/test-cluster.js';

export * from '../support/test-cluster.js';

export const describeApiServer: typeof describe = (assets ? describe : describe.skip) as typeof describe;
