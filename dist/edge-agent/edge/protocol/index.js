// edge/protocol: the only module that builds or parses cloud↔edge frames.
// See README.md for the frame layout, every message and the error codes.
export { ProtocolError, PROTOCOL_ERROR_CODES } from './errors.js';
                                                     
export {
  DEFAULT_LIMITS,
  MAGIC,
  PREFIX_BYTES,
  PROTOCOL_VERSION,
  SUPPORTED_VERSIONS,
  decode,
  direction,
  encode,
  encodeObjectBody,
  encodeUpsert,
  resolveLimits,
  validate,
} from './codec.js';
                                                                                   
export { FrameReader } from './frame-reader.js';
export { MESSAGE_TYPES, REPORT_KINDS } from './messages.js';
             
      
         
            
           
             
        
            
                 
      
        
          
       
       
            
         
            
             
           
                
                 
         
          
                       
export { InventoryDigest, inventoryDigest } from './digest.js';
export { MAX_KEY_LENGTH, formatKey, parseKey } from './key.js';
                                          
                                        
