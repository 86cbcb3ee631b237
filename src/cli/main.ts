// The firebreak command line. Errors print one line with a stable code and
// what to do next; never a stack trace.

import { isFirebreakError } from '../errors/index.ts';
import { DLQ_HELP, dlqCommand } from './dlqCommand.ts';
import { DRILL_HELP, drillCommand } from './drillCommand.ts';
import { ENV_HELP, envCommand } from './envCommand.ts';
import { CONFIG_HELP, configCommand } from './configCommand.ts';
import {
  STACK_HELP,
  downCommand,
  restoreCommand,
  snapshotCommand,
  statusCommand,
  upCommand,
} from './stackCommands.ts';

const HELP = `firebreak — a checkout that never loses or double-charges a payment, and the drills that prove it

Commands:
${DRILL_HELP}

${DLQ_HELP}

${ENV_HELP}

${CONFIG_HELP}

${STACK_HELP}

firebreak help     this text
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'drill':
      return drillCommand(rest);
    case 'dlq':
      return dlqCommand(rest);
    case 'env':
      return envCommand(rest);
    case 'config':
      return configCommand(rest);
    case 'up':
      return upCommand(rest);
    case 'status':
      return statusCommand(rest);
    case 'down':
      return downCommand(rest);
    case 'snapshot':
      return snapshotCommand(rest);
    case 'restore':
      return restoreCommand(rest);
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`FB_USAGE: unknown command ${JSON.stringify(command)}. Run "firebreak help".\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // The command's work is done and reported, and everything it started is stopped: exit now.
    // A drill once printed its verdict and then kept a core busy for an hour with the event loop
    // starved (no timer or signal handler ran), so an exit scheduled for later would never come.
    // stdout and stderr are synchronous for files, pipes and terminals on Linux: nothing is lost.
    process.exit(code);
  },
  (err: unknown) => {
    if (isFirebreakError(err)) {
      process.stderr.write(`${err.code}: ${err.message}\n`);
      // The environment fence's refusals keep their own exit code, 3 (src/cli/envCommand.ts).
      process.exitCode =
        err.code === 'FB_USAGE' || err.code === 'FB_CONFIG_INVALID'
          ? 2
          : err.code === 'FB_ENV_MISMATCH' || err.code === 'FB_ENV_UNSTAMPED'
            ? 3
            : 1;
      return;
    }
    process.stderr.write(`FB_INTERNAL: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
