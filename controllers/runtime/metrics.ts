/**
 * Controller and work-queue metrics (names follow controller-runtime's
 * `controller_runtime_*` and client-go's `workqueue_*`, with an `outpost_`
 * prefix). Registered once per Registry, so several controllers can share one.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ControllerMetrics {
  reconcileTotal: Counter<'controller' | 'result'>;
  reconcileErrors: Counter<'controller'>;
  terminalReconcileErrors: Counter<'controller'>;
  reconcileTime: Histogram<'controller'>;
  activeWorkers: Gauge<'controller'>;
  queueDepth: Gauge<'name'>;
  queueAdds: Counter<'name'>;
  queueRetries: Counter<'name'>;
}

const byRegistry = new WeakMap<Registry, ControllerMetrics>();

/** The metric set registered in `registry` (created on first use; idempotent). */
export function controllerMetrics(registry: Registry): ControllerMetrics {
  let m = byRegistry.get(registry);
  if (m) return m;
  const registers = [registry];
  m = {
    reconcileTotal: new Counter({ name: 'outpost_controller_reconcile_total', help: 'Reconciles per controller and result (success, requeue_after, error, terminal_error).', labelNames: ['controller', 'result'], registers }),
    reconcileErrors: new Counter({ name: 'outpost_controller_reconcile_errors_total', help: 'Reconciles that threw (retryable or terminal).', labelNames: ['controller'], registers }),
    terminalReconcileErrors: new Counter({ name: 'outpost_controller_terminal_reconcile_errors_total', help: 'Reconciles that failed with a terminal error and were not retried.', labelNames: ['controller'], registers }),
    reconcileTime: new Histogram({
      name: 'outpost_controller_reconcile_time_seconds',
      help: 'Duration of one reconcile.',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    activeWorkers: new Gauge({ name: 'outpost_controller_active_workers', help: 'Workers currently running a reconcile.', labelNames: ['controller'], registers }),
    queueDepth: new Gauge({ name: 'outpost_workqueue_depth', help: 'Keys waiting in the work queue.', labelNames: ['name'], registers }),
    queueAdds: new Counter({ name: 'outpost_workqueue_adds_total', help: 'Keys added to the work queue (not counting merges into a pending key).', labelNames: ['name'], registers }),
    queueRetries: new Counter({ name: 'outpost_workqueue_retries_total', help: 'Rate-limited re-adds after a failed reconcile.', labelNames: ['name'], registers }),
  };
  byRegistry.set(registry, m);
  return m;
}
