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
    process.exitCode = code;
    // The command's work is done and reported, and everything it started is stopped. A handle
    // some library leaves open (once seen: a drill that printed its verdict and then kept a
    // core busy for an hour) must not keep the command from returning: exit after a grace
    // period. unref(): when nothing is left, the process exits at once as usual.
    setTimeout(() => process.exit(code), 5_000).unref();
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
