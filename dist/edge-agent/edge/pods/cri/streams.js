/**
 * Client side of the CRI streaming server (the URL containerd returns from
 * Exec/Attach), over WebSocket with the `v4.channel.k8s.io` subprotocol
 * (k8s.io/apiserver wsstream, kubelet remotecommand): every binary message
 * starts with a channel byte — 0 stdin, 1 stdout, 2 stderr, 3 error (a
 * metav1.Status JSON: Success, or Failure with an ExitCode cause), 4 resize
 * (`{"Width":w,"Height":h}`). v4 has no half-close of stdin: ending stdin
 * closes the session once stdout/stderr have drained.
 */
import { PassThrough } from 'node:stream';
                                                                

                  
                  
                   
                                                                 
 

/** Exit code from the error channel's Status (0 for Success). */
export function exitCodeOf(s        )         {
  if (s.status === 'Success') return 0;
  const c = s.details?.causes?.find((x) => x.reason === 'ExitCode');
  return c?.message !== undefined && /^\d+$/.test(c.message) ? Number(c.message) : 1;
}

/** Opens a streaming session on `url` (http://127.0.0.1:port/exec/<token>). */
export async function openStream(url        , opts               )                       {
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v4.channel.k8s.io']);
  const stdout = opts.stdout ? new PassThrough() : undefined;
  const stderr = opts.stderr && !opts.tty ? new PassThrough() : undefined;
  const stdin = opts.stdin ? new PassThrough() : undefined;
  let exitCode                    ;
  const exit = new Promise                      ((resolve) => {
    ws.on('close', () => {
      stdout?.end();
      stderr?.end();
      resolve({ exitCode: exitCode ?? 0 });
    });
  });
  ws.on('message', (data        ) => {
    if (data.length === 0) return;
    const ch = data[0];
    const body = data.subarray(1);
    if (ch === 1) stdout?.write(body);
    else if (ch === 2) stderr?.write(body);
    else if (ch === 3 && body.length) {
      try {
        exitCode = exitCodeOf(JSON.parse(body.toString('utf8'))          );
      } catch {
        exitCode = 1;
      }
    }
  });
  await new Promise      ((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => undefined);
  stdin?.on('data', (d        ) => ws.send(Buffer.concat([Buffer.from([0]), d])));
  return {
    ...(stdin ? { stdin } : {}),
    ...(stdout ? { stdout } : {}),
    ...(stderr ? { stderr } : {}),
    resize(cols, rows) {
      if (opts.tty) ws.send(Buffer.concat([Buffer.from([4]), Buffer.from(JSON.stringify({ Width: cols, Height: rows }))]));
    },
    exit,
    close() {
      ws.close();
    },
  };
}
