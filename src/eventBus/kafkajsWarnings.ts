// kafkajs 2.2.4 schedules a timer with a negative delay on every connection
// (RequestQueue.scheduleCheckPendingRequests), which Node 24 reports as a
// TimeoutNegativeWarning on stderr: harmless (Node clamps it to 1 ms), known
// upstream (tulios/kafkajs#1751, fix in #1755/#1756, unreleased), and noise in
// a drill's output. This drops exactly that warning when kafkajs raised it;
// every other warning passes through untouched. Imported for its side effect.

const installed = Symbol.for('firebreak.kafkajsTimeoutWarningFilter');
const host = process as unknown as Record<symbol, boolean>;

if (!host[installed]) {
  host[installed] = true;
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = (warning: string | Error, ...rest: unknown[]) => {
    const first = rest[0];
    const type =
      typeof warning === 'string'
        ? typeof first === 'string'
          ? first
          : (first as { type?: string } | undefined)?.type
        : warning.name;
    if (type === 'TimeoutNegativeWarning' && new Error().stack?.includes('kafkajs')) return;
    emitWarning(warning, ...rest);
  };
}
