/**
 * Base class for Outpost's typed errors. Every error has a stable `code`
 * (listed in the README of the folder that defines it; codes are never
 * reused) and a message that says what was wrong and what to do.
 */
export class OutpostError                            extends Error {
           code   ;
  constructor(code   , message        , options                      ) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** True when `err` is an OutpostError with the given code. */
export function hasCode(err         , code        )          {
  return err instanceof OutpostError && err.code === code;
}
