/**
 * edge/kubelet: `kubectl logs / exec / attach / port-forward / top` for the
 * pods of this node. The API server reaches "the kubelet" at the cloud's
 * kubelet endpoint (cloud/kubelet), which carries each connection here over
 * the hub session as a tunnel stream; {@link attachKubelet} accepts those
 * streams and serves them with the kubelet API (server.ts).
 */
import { encode } from '../protocol/index.js';
                                                 
import { TunnelMux } from '../transport/tunnel.js';
                                                  
import { createKubeletServer,                           } from './server.js';

export { createKubeletServer } from './server.js';

                                
                                              
                    
               
 

/** Serves tunnelled kubelet requests on every session of `hub`. Call before `hub.start()` or any time after. */
export function attachKubelet(hub         , o                      )                {
  const kubelet = createKubeletServer(o);
  const muxes = new Map                 ();
  hub.tunnel = (link, msg) => {
    let mux = muxes.get(link);
    if (!mux) {
      if (link.closed) return;
      const m = new TunnelMux({
        send: (f) => {
          link.send(encode(f)).catch(() => undefined); // a dead link closes the session and every stream
        },
        bufferedAmount: () => link.bufferedAmount,
      });
      m.onStream = (s) => {
        m.accept(s);
        kubelet.serveConnection(s);
      };
      muxes.set(link, (mux = m));
      link.onClose(() => {
        m.closeAll();
        muxes.delete(link);
      });
    }
    mux.receive(msg);
  };
  return {
    streams: () => [...muxes.values()].reduce((n, m) => n + m.size, 0),
    stop() {
      hub.tunnel = undefined;
      for (const m of muxes.values()) m.closeAll('edge agent stopping');
      muxes.clear();
      kubelet.close();
    },
  };
}
