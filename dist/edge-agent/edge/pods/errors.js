// Error codes of edge/pods (listed with what to do in README.md).
import { OutpostError } from '../../lib/errors.js';

                          
                                                                                                                                        
                        
                                                                                                        
                      
                                                                         
                           
                                                                                               
                       
                                                                    
                             
                                                                                      
                     
                                                                                     
                              

export class PodError extends OutpostError               {
  /** The kubelet's waiting reason this maps to in containerStatuses (e.g. CreateContainerConfigError). */
           reason        ;
  constructor(code              , message        , opts                                       = {}) {
    super(code, message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.reason = opts.reason ?? defaultReason[code];
  }
}

const defaultReason                               = {
  POD_CONFIG_INVALID: 'CreateContainerConfigError',
  POD_START_FAILED: 'RunContainerError',
  POD_IMAGE_PULL_FAILED: 'ErrImagePull',
  POD_VOLUME_FAILED: 'CreateContainerConfigError',
  POD_CONTAINER_NOT_FOUND: 'ContainerStatusUnknown',
  POD_UNSUPPORTED: 'CreateContainerError',
  POD_RUNTIME_UNAVAILABLE: 'RunContainerError',
};
