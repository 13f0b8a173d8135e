/**
 * Pure: the PodStatus the edge reports upstream (`pod-status` reports), from
 * the pod record, transient waiting reasons and probe results — the kubelet's
 * generateAPIPodStatus/getPhase (pkg/kubelet/kubelet_pods.go) and
 * status.GeneratePodReadyCondition & co. Condition lastTransitionTimes are
 * kept from `previous` while a condition's status does not change, so an
 * unchanged pod produces an identical status (and no report).
 */
import { initialized, restartPolicy } from './plan.js';
                                                                           
import { apiTime,                                                                                                        } from './types.js';

                              
           
                 
              
                                                           
                        
                 
                                                                                                                                 
                                                                
                                                                                    
                               
                                                                                     
                                 
                        
                                                                        
                            
 

const ownConditions = ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready'];

function terminated(t             , scheme        )                 {
  return {
    terminated: {
      exitCode: t.exitCode, ...(t.signal ? { signal: t.signal } : {}), reason: t.reason, ...(t.message ? { message: t.message } : {}),
      startedAt: apiTime(t.startedAt), finishedAt: apiTime(t.finishedAt), containerID: `${scheme}://${t.containerID}`,
    },
  };
}

function containerStatus(c           , x                             , i             , defaultWaiting        )                  {
  const scheme = i.runtimeScheme;
  const running = x?.state === 'running';
  let state                ;
  let lastState                 = x?.last ? terminated(x.last, scheme) : {};
  const w = i.waiting[c.name];
  if (running) {
    state = { running: { startedAt: apiTime(x .startedAt ) } };
  } else if (x?.state === 'exited' && w) {
    // exited and waiting to restart: the exit is the last state (kubelet: CrashLoopBackOff over lastState terminated)
    state = { waiting: { reason: w.reason, ...(w.message ? { message: w.message } : {}) } };
    lastState = terminated(x.exit , scheme);
  } else if (x?.state === 'exited') {
    state = terminated(x.exit , scheme);
  } else {
    state = { waiting: { reason: w?.reason ?? defaultWaiting, ...(w?.message ? { message: w.message } : {}) } };
  }
  const started = running && i.started(c.name);
  return {
    name: c.name, state, lastState, ready: running && started && i.ready(c.name), restartCount: x?.restartCount ?? 0,
    image: c.image ?? '', imageID: x?.imageID ?? '',
    ...(x?.handle ? { containerID: `${scheme}://${x.handle.id}` } : {}),
    started,
  };
}

/**
 * Whether the API server's copy of the status (what the store holds) lags
 * behind `ours` in anything that matters (phase, condition statuses,
 * container states, readiness, restart counts): then the status must be
 * reported again (a report may have been refused, or overtaken).
 */
export function statusDiffers(api                       , ours           )          {
  const digest = (s                       ) => JSON.stringify({
    phase: s?.phase,
    conditions: (s?.conditions ?? []).filter((c) => ownConditions.includes(c.type)).map((c) => `${c.type}=${c.status}`).sort(),
    containers: [...(s?.initContainerStatuses ?? []), ...(s?.containerStatuses ?? [])].map((c) => [c.name, Object.keys(c.state ?? {})[0], c.ready, c.restartCount, c.containerID ?? '']),
  });
  return digest(api) !== digest(ours);
}

/** The kubelet's getPhase for the regular containers. */
export function podPhase(pod     , rec           , statuses                   )                                  {
  if (rec.terminalPhase) return rec.terminalPhase;
  if (!initialized(pod, rec)) {
    const failedInit = (pod.spec.initContainers ?? []).some((c) => rec.containers[c.name]?.state === 'exited' && rec.containers[c.name] .exit .exitCode !== 0);
    return failedInit && restartPolicy(pod) === 'Never' ? 'Failed' : 'Pending';
  }
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of statuses) {
    if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.lastState.terminated) stopped++;
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    const p = restartPolicy(pod);
    if (p === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (p === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

/** The status to report (see the module comment). Deterministic for equal inputs. */
export function podStatus(i             )            {
  const { pod, rec } = i;
  const init = initialized(pod, rec);
  const initStatuses = (pod.spec.initContainers ?? []).map((c) => containerStatus(c, rec.containers[c.name], i, 'PodInitializing'));
  const statuses = pod.spec.containers.map((c) => containerStatus(c, rec.containers[c.name], i, init ? 'ContainerCreating' : 'PodInitializing'));
  const phase = podPhase(pod, rec, statuses);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const prev = new Map((i.previous ?? pod.status?.conditions ?? []).map((c) => [c.type, c]));
  const cond = (type        , ok         , reason         , message         )               => {
    const status = ok ? 'True' : 'False';
    const p = prev.get(type);
    return {
      type, status, lastProbeTime: null,
      lastTransitionTime: p && p.status === status && p.lastTransitionTime ? p.lastTransitionTime : apiTime(i.now),
      ...(reason ? { reason } : {}), ...(message ? { message } : {}),
    };
  };
  const incompleteInit = (pod.spec.initContainers ?? []).filter((c) => !(rec.containers[c.name]?.state === 'exited' && rec.containers[c.name] .exit .exitCode === 0)).map((c) => c.name);
  const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
  const containersReady = !terminal && unready.length === 0;
  const notReadyReason = terminal ? 'PodCompleted' : 'ContainersNotReady';
  const notReadyMessage = terminal ? undefined : `containers with unready status: [${unready.join(' ')}]`;
  const conditions                 = [
    cond('PodReadyToStartContainers', i.sandboxReady && !terminal),
    init || terminal ? cond('Initialized', true, terminal && !init ? 'PodCompleted' : undefined) : cond('Initialized', false, 'ContainersNotInitialized', `containers with incomplete status: [${incompleteInit.join(' ')}]`),
    containersReady ? cond('ContainersReady', true) : cond('ContainersReady', false, notReadyReason, notReadyMessage),
    containersReady ? cond('Ready', true) : cond('Ready', false, notReadyReason, notReadyMessage),
    // conditions other writers own (PodScheduled from the scheduler, DisruptionTarget, readiness gates): kept as they are
    ...(pod.status?.conditions ?? []).filter((c) => !ownConditions.includes(c.type)),
  ];
  // a pod created with spec.nodeName never met the scheduler; the kubelet adds PodScheduled itself
  if (!conditions.some((c) => c.type === 'PodScheduled')) conditions.push(cond('PodScheduled', true));
  const ips = i.hostIP ? [{ ip: i.hostIP }] : [];
  return {
    phase,
    conditions,
    ...(rec.terminalReason && terminal ? { reason: rec.terminalReason } : {}),
    ...(rec.terminalMessage && terminal ? { message: rec.terminalMessage } : {}),
    ...(i.hostIP ? { hostIP: i.hostIP, hostIPs: ips, podIP: i.hostIP, podIPs: ips } : {}),
    ...(rec.startTime !== undefined ? { startTime: apiTime(rec.startTime) } : {}),
    ...(initStatuses.length ? { initContainerStatuses: initStatuses } : {}),
    containerStatuses: statuses,
  };
}
