/**
 * What the manager remembers about each pod it runs, persisted in the edge
 * store (meta key `pods/<uid>`) after every change, so a restarted agent
 * knows which processes/containers are its own (adopts them), how often each
 * container restarted, and which init containers already completed — also
 * with no cloud. Plain JSON; handles are the runtime's opaque data.
 */
import { createHash } from 'node:crypto';
                                                                   
                                            

/** How one container instance ended. */
                              
                   
                  
                 
                   
                    
                     
                      
 

                                  
               
                
                                                                          
                       
                                        
                           
                                                                                                
                    
                                       
                     
                                    
                     
                                                                        
                     
                   
 

                            
              
                    
               
                          
                         
                                                                     
                     
                                              
                                                                              
                                         
                          
                           
                                                                                              
                             
 

export const recordKey = (uid        )         => `pods/${uid}`;

/** Stable hash of the fields of a container spec that require a restart when they change. */
export function containerHash(c           )         {
  return createHash('sha256').update(JSON.stringify(c)).digest('hex').slice(0, 16);
}

export function newRecord(uid        , namespace        , name        )            {
  return { uid, namespace, name, sandboxAttempt: 0, containers: {} };
}
