/**
 * What the manager remembers about each pod it runs, persisted in the edge
 * store (meta key `pods/<uid>`) after every change, so a restarted agent
 * knows which processes/containers are its own (adopts them), how often each
 * container restarted, and which init containers already completed — also
 * with no cloud. Plain JSON; handles are the runtime's opaque data.
 */
import { createHash } from 'node:crypto';
import type { ContainerHandle, SandboxHandle } from './runtime.ts';
import type { Container } from './types.ts';

/** How one container instance ended. */
export interface Termination {
  exitCode: number;
  signal?: number;
  reason: string;
  message?: string;
  startedAt: number;
  finishedAt: number;
  containerID: string;
}

export interface ContainerRecord {
  name: string;
  init: boolean;
  /** Restarts so far; also the attempt number of the current instance. */
  restartCount: number;
  /** The current (or last) instance. */
  handle?: ContainerHandle;
  /** Hash of the container spec the instance was started from (a changed image restarts it). */
  specHash?: string;
  state: 'none' | 'running' | 'exited';
  startedAt?: number;
  /** Set when state is `exited`. */
  exit?: Termination;
  /** The termination before the current instance (status lastState). */
  last?: Termination;
  imageID?: string;
}

export interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  sandbox?: SandboxHandle;
  sandboxAttempt: number;
  /** When the agent first started the pod (status.startTime), ms. */
  startTime?: number;
  containers: Record<string, ContainerRecord>;
  /** Set once the pod reached Succeeded/Failed: nothing restarts any more. */
  terminalPhase?: 'Succeeded' | 'Failed';
  terminalReason?: string;
  terminalMessage?: string;
  /** Set once a graceful deletion finished and `{deleted: true}` was queued for the cloud. */
  deletionReported?: boolean;
}

export const recordKey = (uid: string): string => `pods/${uid}`;

/** Stable hash of the fields of a container spec that require a restart when they change. */
export function containerHash(c: Container): string {
  return createHash('sha256').update(JSON.stringify(c)).digest('hex').slice(0, 16);
}

export function newRecord(uid: string, namespace: string, name: string): PodRecord {
  return { uid, namespace, name, sandboxAttempt: 0, containers: {} };
}
