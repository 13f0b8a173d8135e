import { OutpostError } from '../../lib/errors.js';

/** Error codes of edge/identity (README.md says what to do about each). */
                               
                          
                              
                           
                         
                      
                           
                            
                             
                           
                         
                                

export class IdentityError extends OutpostError                    {
  /** For IDENTITY_REFUSED: the server's BOOTSTRAP_* code. */
           serverCode                    ;
  constructor(code                   , message        , options                                           ) {
    super(code, message, options);
    this.serverCode = options?.serverCode;
  }
}
