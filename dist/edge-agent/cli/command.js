import { parseArgs,                      } from 'node:util';
import { CliError } from './errors.js';

                                                       

/** One `outpost <name>` subcommand. `run` returns the process exit code. */
                          
               
                  
                
                   
                                                       
                                     
                                                                                                  
                   
                                                                                                                           
 

/** Help text for a command (also printed for a usage error). */
export function helpText(c         )         {
  const opts = Object.entries(c.options).map(([k, o]) => {
    const flag = `--${k}${o.type === 'string' ? ' <value>' : ''}${o.short ? `, -${o.short}` : ''}`;
    return `  ${flag.padEnd(30)} ${c.optionHelp[k] ?? ''}`;
  });
  return [`outpost ${c.name}: ${c.summary}`, '', `usage: ${c.usage}`, ...(opts.length ? ['', 'options:', ...opts] : []),
    `  ${'--help, -h'.padEnd(30)} show this help`, ...(c.planned ? ['', `not available yet: ${c.planned}`] : [])].join('\n');
}

/** Parses argv strictly; unknown or malformed flags become a CLI_USAGE error naming the flag. */
export function parse(c         , argv          )                                                                                                                        {
  // parseArgs refuses "--port -1" (a value that looks like a flag); negative numbers are values here
  const args           = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ;
    const next = argv[i + 1];
    const name = a.startsWith('--') ? a.slice(2) : undefined;
    if (name && !name.includes('=') && c.options[name]?.type === 'string' && next !== undefined && /^-\d+$/.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else {
      args.push(a);
    }
  }
  try {
    const { values, positionals } = parseArgs({ args, options: { ...c.options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true });
    const { help, ...rest } = values                                                ;
    return { values: rest, positionals, help: help === true };
  } catch (err) {
    throw new CliError('CLI_USAGE', `${(err         ).message.replace(/\. To specify.*$/s, '')}\n\n${helpText(c)}`, { cause: err });
  }
}
