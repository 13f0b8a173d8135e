/**
 * Outpost's small controller runtime (controllers/README.md). Controllers
 * import from here; tests may also use MemoryInformer and MemoryLeaseStore.
 */
export { KubeClient, collectionPath, type JsonPatchOp, type ObjectRef, type ListResult } from './client.ts';
export { systemClock, type Clock } from './clock.ts';
export {
  Controller,
  generationChanged,
  ownerRequests,
  ownRequest,
  parseRequestKey,
  requestKey,
  type ControllerOptions,
  type ErrorAction,
  type ErrorPolicy,
  type MapFn,
  type Predicate,
  type ReconcileContext,
  type Reconciler,
  type ReconcileResult,
  type Request,
} from './controller.ts';
export { ControllerError, KubeApiError, TerminalError, isConflict, isNotFound, type ControllerErrorCode } from './errors.ts';
export { addFinalizerPatch, finalizerAction, removeFinalizerPatch, withFinalizer, type FinalizerAction, type FinalizerHandlers } from './finalizer.ts';
export { ListWatchInformer, SharedInformerFactory, objectKey, type ChangeHandler, type EventType, type Informer } from './informer.ts';
export { LeaderElector, electionDecision, kubeLeaseStore, observeLease, type Lease, type LeaseStore } from './leader.ts';
export { Manager, type LeaderElectionConfig, type ManagerOptions } from './manager.ts';
export { MemoryInformer } from './memory-informer.ts';
export { MemoryLeaseStore } from './memory-lease-store.ts';
export { WorkQueue } from './queue.ts';
export { findCondition, isConditionTrue, patchStatus, removeCondition, setCondition, type Condition, type ConditionInput, type ConditionStatus } from './status.ts';
