/** Prometheus metrics of the controller (prom-client), fed by the reconciler's observer and the adapters. */
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { ReconcilerObserver } from './reconciler/observer.ts';
import type { OnCall } from './aws/callCounter.ts';

export class Metrics {
  readonly registry = new Registry();
  readonly observer: ReconcilerObserver = {};
  readonly onCall: OnCall = () => {};

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'fleetsync_process_' });
  }
}
