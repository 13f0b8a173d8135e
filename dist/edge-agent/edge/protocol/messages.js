// One interface and one schema per message. The interfaces are the contract
// (documented per field); each schema is type-checked against its interface
// (`obj<T>(shape: Shape<T>)`), so the two cannot drift. Field order in a
// schema is the canonical order on the wire.
import { keyProblem } from './key.js';
                                               
import { bool, fail, int, jsonObject, list, map, obj, oneOf, opt, pair, str } from './schema.js';

/** Largest integer JSON carries exactly (2^53-1). */
const MAX_INT = Number.MAX_SAFE_INTEGER;
/** Largest u32: stream ids. */
const MAX_U32 = 0xffff_ffff;

/** Every message type, in README order. A closed set: anything else is PROTO_UNKNOWN_TYPE. */
export const MESSAGE_TYPES = [
  'hello',
  'welcome',
  'inventory',
  'upsert',
  'delete',
  'sync-done',
  'ack',
  'report',
  'report-ack',
  'ping',
  'pong',
  'error',
  'request',
  'response',
]         ;

/** A message type. */
                                                     

/** Report kinds the cloud knows how to write. A new kind is added behind a capability, not a version. */
export const REPORT_KINDS = ['node-register', 'node-status', 'lease', 'pod-status', 'event', 'device-twin', 'device-state']         ;

/** What a `report` is about. */
                                                       

/** Key → resourceVersion, the edge's view of what it has applied. */
                                               

/** `[name, value]`; names are lower-case HTTP tokens, repeats allowed and kept in order. */
                                                       

/** Edge → cloud, first frame of a session. Node identity comes from the client certificate, never from here. */
                        
                
                                                       
                     
                                                                                                     
                 
                                                  
                
                                                                                                   
                 
                                                   
                 
                                                                                     
                        
 

/** Cloud → edge, answer to `hello`. */
                          
                  
                                                
                  
                                            
                  
                                                           
                 
                                                                                             
                      
                                                                                                                            
                           
                                                                                                              
                         
                                                                         
                 
 

/** Edge → cloud: the full inventory, possibly split across several frames. */
                                 
                    
                                        
                
                                 
                
                   
 

/** Cloud → edge: store this object version. Idempotent: re-applying the same key and rv is a no-op. */
                         
                 
                                                                      
              
              
                                                            
             
                                                                                          
                   
 

/** Cloud → edge: remove this object. Idempotent. */
                         
                 
              
              
                                                        
              
                                                                                                  
                                   
 

/** Cloud → edge: resume is complete up to `seq`; after applying it the edge may prune keys the resume did not confirm. */
                           
                    
              
 

/** Edge → cloud, cumulative: every `upsert`/`delete` with seq <= `seq` is applied durably. */
                      
              
              
 

/** Edge → cloud: one upstream change, kept in the edge outbox until acknowledged. */
                         
                 
                                                                                          
             
                   
                                                            
              
                                   
 

/** A report the cloud refuses for good; the edge drops it from its outbox. */
                            
             
                                                                                         
               
                  
 

/** Cloud → edge: reports written to the API server (`ids`) or refused for good (`rejected`). */
                            
                     
                
                        
 

/** Either side: liveness probe. */
                       
               
                                          
             
 

/** Answer to `ping`, echoing its `ts`. */
                       
               
             
 

/** Either side: something went wrong. `fatal`: the sender closes the session after this frame. */
                           
                
                                          
               
                  
                 
 

/** Opens a tunnelled HTTP-style stream (kubectl logs/exec); `body` is the first request chunk. */
                                
                  
                                                             
             
                 
                                                                    
               
                        
                                                
               
                   
 

/** One chunk of the answer to `request` `id`; the first chunk carries `status` and `headers`. */
                                 
                   
             
                  
                         
                                                      
               
                   
 

/** Any message. Narrow on `type` with an exhaustive switch. */
                                                                                                                                                                     

/** The message with the given type. */
                                                                 

/** Who may send a message: `up` = edge → cloud, `down` = cloud → edge, `both`. */
                                               

/** What follows the JSON header of a frame: nothing, a JSON object (upsert) or opaque bytes. */
                                                   

// Field vocabulary.
const key                = {
  optional: false,
  check: (v, path) => {
    const problem = keyProblem(v);
    return problem === undefined ? (v          ) : fail(path, problem, v);
  },
};
// Opaque in Kubernetes, decimal in etcd; printable ASCII so the digest's tab
// separator stays unambiguous.
const rv = str(64, /^[\x21-\x7e]+$/, 'a resourceVersion (1..64 printable ASCII characters)');
const seq = int(1, MAX_INT);
const cumulative = int(0, MAX_INT);
const cap = str(32, /^[a-z][a-z0-9-]*$/, 'a capability (lower-case letters, digits, "-"; at most 32)');
const caps = list(cap, 0, 64, true);
const version = int(1, 255);
const windowSize = int(1, 65535);
const inventory = map(key, rv, 10_000_000);
const id = str(64, /^[A-Za-z0-9._:-]+$/, 'an id (1..64 of A-Z a-z 0-9 . _ : -)');
const code = str(64, /^[A-Za-z][A-Za-z0-9_]*$/, 'a code (a letter, then letters, digits, "_"; at most 64)');
const message = str(4096, undefined, 'a message of at most 4096 characters');
const streamId = int(1, MAX_U32);
const headers = list(
  pair(
    str(256, /^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'a lower-case HTTP header name'),
    str(8192, /^[\t\x20-\x7e\x80-\uffff]*$/, 'a header value without control characters (at most 8192)'),
  ),
  0,
  256,
);

/** Per type: the JSON header schema (body excluded), what follows it, and who may send it. */
export const SPECS                                                                                                         = {
  hello: {
    dir: 'up',
    body: 'none',
    schema: obj       ({
      type: oneOf(['hello']),
      versions: list(version, 1, 16, true),
      caps,
      agent: str(128, /^[\x20-\x7e]+$/, 'an agent version (1..128 printable ASCII characters)'),
      window: windowSize,
      digest: str(64, /^[0-9a-f]{64}$/, 'a digest (64 lower-case hex digits)'),
      inventory: opt(inventory),
    }),
  },
  welcome: {
    dir: 'down',
    body: 'none',
    schema: obj         ({
      type: oneOf(['welcome']),
      version,
      session: id,
      caps,
      heartbeatMs: int(100, 3_600_000),
      resume: oneOf(['delta', 'full']),
      wantInventory: bool(),
      window: windowSize,
    }),
  },
  inventory: {
    dir: 'up',
    body: 'none',
    schema: obj                ({ type: oneOf(['inventory']), chunk: int(0, MAX_U32), last: bool(), items: inventory }),
  },
  upsert: {
    dir: 'down',
    body: 'object',
    schema: obj                      ({ type: oneOf(['upsert']), seq, key, rv }),
  },
  delete: {
    dir: 'down',
    body: 'none',
    schema: obj        ({ type: oneOf(['delete']), seq, key, rv: opt(rv), reason: oneOf(['deleted', 'unassigned']) }),
  },
  'sync-done': { dir: 'down', body: 'none', schema: obj          ({ type: oneOf(['sync-done']), seq: cumulative }) },
  ack: { dir: 'up', body: 'none', schema: obj     ({ type: oneOf(['ack']), seq: cumulative }) },
  report: {
    dir: 'up',
    body: 'none',
    schema: obj        ({ type: oneOf(['report']), id, kind: oneOf(REPORT_KINDS), key, payload: jsonObject(2) }),
  },
  'report-ack': {
    dir: 'down',
    body: 'none',
    schema: nonEmptyReportAck(
      obj           ({
        type: oneOf(['report-ack']),
        ids: list(id, 0, 65536),
        rejected: list(obj           ({ id, code, message }), 0, 65536),
      }),
    ),
  },
  ping: { dir: 'both', body: 'none', schema: obj      ({ type: oneOf(['ping']), ts: int(0, MAX_INT) }) },
  pong: { dir: 'both', body: 'none', schema: obj      ({ type: oneOf(['pong']), ts: int(0, MAX_INT) }) },
  error: { dir: 'both', body: 'none', schema: obj          ({ type: oneOf(['error']), code, message, fatal: bool() }) },
  request: {
    dir: 'both',
    body: 'bytes',
    schema: obj                             ({
      type: oneOf(['request']),
      id: streamId,
      method: str(16, /^[A-Z]+$/, 'an HTTP method (upper-case, at most 16)'),
      path: str(8192, /^\/[\x21-\x7e]*$/, 'a path starting with "/" (printable ASCII, no spaces, at most 8192)'),
      headers,
      end: bool(),
    }),
  },
  response: {
    dir: 'both',
    body: 'bytes',
    schema: obj                              ({ type: oneOf(['response']), id: streamId, status: opt(int(100, 599)), headers: opt(headers), end: bool() }),
  },
};

// An empty report-ack says nothing; refusing it catches a sender bug early.
function nonEmptyReportAck(f                  )                   {
  return {
    optional: false,
    check: (v, path, ctx) => {
      const out = f.check(v, path, ctx);
      if (out.ids.length + out.rejected.length === 0) fail(`${path}.ids`, 'at least one id in ids or rejected', out.ids);
      return out;
    },
  };
}
