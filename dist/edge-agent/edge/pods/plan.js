/**
 * Pure: what to do next with one pod, from the desired spec and what was
 * observed (the kubelet's computePodActions, reduced to what Outpost runs).
 * No I/O, no timers, `now` passed in; the manager executes the plan and asks
 * again after each change (level-triggered, idempotent).
 *
 * Rules (pkg/kubelet/kuberuntime/kuberuntime_manager.go, kubelet_pods.go):
 * - init containers run one at a time, in order; each must exit 0. A failed
 *   one is retried with crash-loop backoff unless restartPolicy is Never,
 *   which fails the pod;
 * - then every container is started; an exited one restarts when
 *   restartPolicy is Always, or OnFailure and it failed — the first restart
 *   at once, later ones after the backoff;
 * - a running container whose liveness probe failed, or whose spec changed,
 *   is killed (and then restarted by the rule above);
 * - activeDeadlineSeconds past: kill everything, the pod Fails (DeadlineExceeded);
 * - once no container runs or will restart, the pod is terminal
 *   (Succeeded if every container exited 0, else Failed) and stays so.
 */
import { containerHash,                                      } from './record.js';
                                                 

                                                            

                            
           
                 
              
                                                                                     
                                      
                                                                                                           
                                                                                              
 

                             
               
                                        
                                                           
                  
 

                          
                                                                
                  
                     
                                                                       
                                                                
                                                                             
                                                                                  
                                                        
                     
 

export function restartPolicy(pod     )                                   {
  return pod.spec.restartPolicy ?? 'Always';
}

/** Whether a container that ended with `exitCode` restarts under the pod's policy. */
export function shouldRestart(pod     , exitCode        )          {
  const p = restartPolicy(pod);
  return p === 'Always' || (p === 'OnFailure' && exitCode !== 0);
}

function rec(r           , c           , init         )                  {
  return r.containers[c.name] ?? { name: c.name, init, restartCount: 0, state: 'none' };
}

/** Whether every init container completed successfully. */
export function initialized(pod     , r           )          {
  return (pod.spec.initContainers ?? []).every((c) => {
    const x = r.containers[c.name];
    return x?.state === 'exited' && x.exit?.exitCode === 0;
  });
}

/** The plan for one pod (see the module comment). */
export function planPod(i           )          {
  const { pod, rec: r, now } = i;
  const plan          = { start: [], kill: [], backoff: {} };
  const earliest = (t        ) => {
    plan.requeueAt = plan.requeueAt === undefined ? t : Math.min(plan.requeueAt, t);
  };
  const running = Object.values(r.containers).filter((c) => c.state === 'running');

  if (r.terminalPhase) {
    plan.terminal = { phase: r.terminalPhase, ...(r.terminalReason ? { reason: r.terminalReason } : {}), ...(r.terminalMessage ? { message: r.terminalMessage } : {}) };
    return plan;
  }

  const deadline = pod.spec.activeDeadlineSeconds;
  if (deadline !== undefined && r.startTime !== undefined) {
    const end = r.startTime + deadline * 1000;
    if (now >= end) {
      const message = `Pod was active on the node longer than the specified deadline`;
      for (const c of running) plan.kill.push({ name: c.name, reason: 'DeadlineExceeded', message });
      plan.terminal = { phase: 'Failed', reason: 'DeadlineExceeded', message };
      return plan;
    }
    earliest(end);
  }

  // init containers, one at a time
  for (const c of pod.spec.initContainers ?? []) {
    const x = rec(r, c, true);
    if (x.state === 'exited' && x.exit .exitCode === 0) continue;
    if (x.state === 'running') {
      if (x.specHash !== undefined && x.specHash !== containerHash(c)) plan.kill.push({ name: c.name, reason: 'SpecChanged', message: `Init container ${c.name} definition changed` });
      return plan;
    }
    if (x.state === 'exited') {
      if (restartPolicy(pod) === 'Never') {
        plan.terminal = { phase: 'Failed', reason: 'Init:Error', message: `init container ${c.name} failed with exit code ${x.exit .exitCode}` };
        return plan;
      }
      const b = i.backoff(c.name, x.exit .finishedAt);
      if (b) {
        plan.backoff[c.name] = b;
        earliest(b.until);
        return plan;
      }
    }
    plan.start.push(c.name);
    return plan;
  }

  // regular containers
  let active = 0;
  for (const c of pod.spec.containers) {
    const x = rec(r, c, false);
    if (x.state === 'none') {
      plan.start.push(c.name);
      active++;
      continue;
    }
    if (x.state === 'running') {
      active++;
      if (i.liveness(c.name) === 'failure') plan.kill.push({ name: c.name, reason: 'Unhealthy', message: `Container ${c.name} failed liveness probe, will be restarted` });
      else if (x.specHash !== undefined && x.specHash !== containerHash(c)) plan.kill.push({ name: c.name, reason: 'SpecChanged', message: `Container ${c.name} definition changed, will be restarted` });
      continue;
    }
    // exited
    if (!shouldRestart(pod, x.exit .exitCode)) continue;
    active++;
    const b = i.backoff(c.name, x.exit .finishedAt);
    if (b) {
      plan.backoff[c.name] = b;
      earliest(b.until);
    } else {
      plan.start.push(c.name);
    }
  }
  if (active === 0) {
    const failed = pod.spec.containers.some((c) => (r.containers[c.name]?.exit?.exitCode ?? 0) !== 0);
    plan.terminal = { phase: failed ? 'Failed' : 'Succeeded' };
  }
  return plan;
}
