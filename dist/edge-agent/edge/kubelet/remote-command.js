/**
 * The kubelet's streaming endpoints over SPDY/3.1, server side:
 * remote command (exec, attach; k8s.io/apimachinery remotecommand protocol
 * v4: streams `error`, `stdin`, `stdout`, `stderr`, `resize`, chosen by the
 * `streamtype` header; the error stream carries a metav1.Status with the
 * exit code) and port-forward (`portforward.k8s.io`: a `data` and an
 * `error` stream per forwarded connection, paired by `requestid`).
 * The API server (1.36) sends both as `Upgrade: SPDY/3.1`, even when kubectl
 * used WebSockets toward it (it translates for exec/attach and tunnels
 * port-forward), so this is what the edge serves.
 */
                                          
                                                      
import { SpdyConnection,                 } from './spdy.js';

export const REMOTE_COMMAND_PROTOCOLS = ['v4.channel.k8s.io'];
export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';

/** The 101 answer that turns an HTTP/1.1 connection into SPDY/3.1. */
export function upgradeResponse(protocol        )         {
  return `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`;
}

/** Picks the first protocol the client offers that we speak (httpstream.Handshake). */
export function negotiate(offered          , supported          )                     {
  return offered.map((p) => p.trim()).find((p) => supported.includes(p));
}

                                       
                 
                  
                  
               
 

/** metav1.Status for the error stream (remotecommand v4). */
export function exitStatus(exitCode        , what        )         {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {}, status: 'Failure', message: `command terminated with non-zero exit code: ${what} exited with code ${exitCode}`,
    reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

export function errorStatus(message        )         {
  return { metadata: {}, status: 'Failure', message, reason: 'InternalError', code: 500 };
}

/**
 * Serves one remote-command connection: waits for the expected streams
 * (at most `timeoutMs`), starts the session with `start`, pipes the
 * streams, writes the exit status on the error stream and closes.
 */
export function serveRemoteCommand(socket        , opts                      , what        , start                                                   , timeoutMs = 30_000)                {
  const conn = new SpdyConnection(socket);
  const want = new Set(['error', ...(opts.stdin ? ['stdin'] : []), ...(opts.stdout ? ['stdout'] : []), ...(opts.stderr && !opts.tty ? ['stderr'] : []), ...(opts.tty ? ['resize'] : [])]);
  const streams = new Map                    ();
  return new Promise      ((resolve) => {
    const timer = setTimeout(() => conn.close(), timeoutMs);
    timer.unref();
    conn.onClose(() => {
      clearTimeout(timer);
      resolve();
    });
    conn.onStream = (s) => {
      const type = s.header('streamtype') ?? '';
      streams.set(type, s);
      s.on('error', () => undefined);
      if ([...want].every((w) => streams.has(w))) {
        clearTimeout(timer);
        void run();
      }
    };
    const run = async ()                => {
      const errStream = streams.get('error') ;
      const finish = (status        ) => {
        errStream.end(JSON.stringify(status), () => setTimeout(() => conn.close(), 50).unref());
      };
      let session             ;
      try {
        session = await start(opts);
      } catch (err) {
        finish(errorStatus((err         ).message));
        return;
      }
      conn.onClose(() => session.close());
      const stdin = streams.get('stdin');
      if (stdin && session.stdin) {
        stdin.pipe(session.stdin);
        session.stdin.on('error', () => undefined);
      } else stdin?.resume();
      const outputs                  = [];
      const pipeOut = (from                                   , to                        ) => {
        if (!from || !to) return;
        outputs.push(new Promise((res) => {
          from.pipe(to, { end: false });
          from.once('end', () => res());
          from.once('error', () => res());
          from.once('close', () => res());
        }));
      };
      pipeOut(session.stdout, streams.get('stdout'));
      pipeOut(session.stderr, streams.get('stderr'));
      const resize = streams.get('resize');
      if (resize) {
        let buf = '';
        resize.on('data', (d        ) => {
          buf += d.toString('utf8');
          // a stream of JSON objects: {"Width":80,"Height":24}
          let m                        ;
          while ((m = /^\s*(\{[^}]*\})/.exec(buf))) {
            buf = buf.slice(m[0].length);
            try {
              const size = JSON.parse(m[1] )                                       ;
              if (size.Width && size.Height) session.resize(size.Width, size.Height);
            } catch {
              // ignore a malformed size
            }
          }
        });
      }
      const { exitCode } = await session.exit;
      await Promise.race([Promise.all(outputs), new Promise((r) => setTimeout(r, 2000).unref())]);
      for (const name of ['stdout', 'stderr']) streams.get(name)?.end();
      finish(exitStatus(exitCode, what));
    };
  });
}

/** Serves one port-forward connection: each (data, error) stream pair is one TCP connection to the pod. */
export function servePortForward(socket        , ports                      , dial                                   )                {
  const conn = new SpdyConnection(socket);
  const pairs = new Map                                                                      ();
  return new Promise      ((resolve) => {
    conn.onClose(() => resolve());
    conn.onStream = (s) => {
      s.on('error', () => undefined);
      const type = s.header('streamtype');
      const rid = s.header('requestid') ?? String(type === 'error' ? s.id : s.id - 2);
      const port = Number(s.header('port'));
      const p = pairs.get(rid) ?? {};
      pairs.set(rid, p);
      if (type === 'data') p.data = s;
      else if (type === 'error') p.error = s;
      else return s.destroy();
      if (!p.data || !p.error || p.started) return;
      p.started = true;
      const data = p.data;
      const error = p.error;
      error.resume();
      if (!Number.isInteger(port) || port < 1 || port > 65535 || (ports && !ports.includes(port))) {
        error.end(`invalid port ${s.header('port')}`);
        data.end();
        return;
      }
      dial(port).then((tcp) => {
        tcp.on('error', (err) => {
          if (!error.writableEnded) error.end(`error forwarding port ${port}: ${err.message}`);
          data.destroy();
        });
        data.pipe(tcp);
        tcp.pipe(data);
        data.once('close', () => tcp.destroy());
        tcp.once('close', () => {
          pairs.delete(rid);
          if (!error.writableEnded) error.end();
        });
      }, (err       ) => {
        error.end(`error forwarding port ${port} to pod: ${err.message}`);
        data.end();
        pairs.delete(rid);
      });
    };
  });
}
