/**
 * Structured logging in Kubernetes style: a capitalised, past-tense message
 * naming the kind (`Created ConfigMap`) plus key/value fields, one JSON line
 * per record on stderr. Child loggers carry fields such as
 * `{controller, namespace, name, reconcileID}` or `{node, session}`.
 */
                                                        
const rank                        = { debug: 10, info: 20, warn: 30, error: 40 };

                         
                                                             
                                                            
                                                            
                                                             
                                                     
                                                 
 

                                
                
                                                                              
                                 
                   
 

function serialise(v         )          {
  if (v instanceof Error) {
    const code = (v                      ).code;
    return { message: v.message, ...(code !== undefined ? { code } : {}) };
  }
  return v;
}

/** Creates a root logger. `OUTPOST_LOG_LEVEL` sets the default level. */
export function createLogger(opts                = {}, base                          = {})         {
  const envLevel = process.env.OUTPOST_LOG_LEVEL                     ;
  const level = opts.level ?? (envLevel && envLevel in rank ? envLevel : 'info');
  const write = opts.write ?? ((line        ) => process.stderr.write(line + '\n'));
  const now = opts.now ?? (() => new Date());
  const emit = (lvl       , msg        , fields                          ) => {
    if (rank[lvl] < rank[level]) return;
    const rec                          = { ts: now().toISOString(), level: lvl, msg, ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) rec[k] = serialise(v);
    write(JSON.stringify(rec));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ level, write, now }, { ...base, ...fields }),
  };
}

/** A logger that drops everything (for benchmarks). */
export const silentLogger         = createLogger({ write: () => {} });
