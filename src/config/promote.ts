// Promotion: the only way a service's prod namespace changes.
//
// The rule: config/<service>/prod.yaml = staging's `tunables`, verbatim
// (comments included), with prod's own `service`, `env` and `bindings` kept.
// It is refused (FB_CONFIG_NOT_PROMOTABLE) unless the most recent drill
// recorded for exactly staging's content hash passed; the refusal names the
// hash and either the failed drill or the command that produces the record.
// A promotion writes one file, the named service's prod namespace, atomically
// (write, fsync, rename); it never touches another service's file, and it
// signals no process: a process picks up its own file when it changes
// (src/config/reloadable.ts).

import { open, rename, rm } from 'node:fs/promises';
import { isMap, parseDocument } from 'yaml';
import { fbError } from '../errors/index.ts';
import { shortHash } from './contentHash.ts';
import { diffNamespaces, type ConfigChange } from './diff.ts';
import {
  DEFAULT_CONFIG_DIR,
  DEFAULT_STATE_FILE,
  DRILL_RECORD_COMMAND,
  latestDrill,
  namespaceFile,
  readDrillRecords,
  type DrillRecord,
} from './drillRecords.ts';
import { displayPath, loadNamespace, parseNamespace } from './namespace.ts';
import type { ServiceName } from './services/index.ts';

export interface PromotionOptions {
  readonly service: ServiceName;
  readonly configDir?: string;
  readonly stateFile?: string;
  /** Check the proof and compute the change, write nothing. */
  readonly dryRun?: boolean;
}

export interface PromotionResult {
  readonly service: ServiceName;
  readonly from: 'staging';
  readonly to: 'prod';
  /** Staging's content hash, which prod carries afterwards. */
  readonly hash: string;
  /** prod's content hash before. */
  readonly previousHash: string;
  readonly file: string;
  /** The passing drill that made this promotable. */
  readonly proof: DrillRecord;
  readonly changes: readonly ConfigChange[];
  /** False when prod already carried staging's tunables, or on a dry run. */
  readonly written: boolean;
}

function describeDrill(r: DrillRecord): string {
  return `${r.drill}, seed ${r.seed}, at ${r.at}`;
}

/** Checks the proof for staging's current content, then writes prod. */
export async function promote(options: PromotionOptions): Promise<PromotionResult> {
  const { service } = options;
  const configDir = options.configDir ?? DEFAULT_CONFIG_DIR;
  const stateFile = options.stateFile ?? DEFAULT_STATE_FILE;
  const stagingFile = namespaceFile(configDir, service, 'staging');
  const prodFile = namespaceFile(configDir, service, 'prod');
  const staging = loadNamespace(stagingFile, { service, env: 'staging' });
  const prod = loadNamespace(prodFile, { service, env: 'prod' });

  const proof = latestDrill(await readDrillRecords(stateFile), {
    service,
    env: 'staging',
    hash: staging.hash,
  });
  const what = `${service}: staging config ${staging.hash} (${displayPath(stagingFile)})`;
  if (!proof)
    throw fbError(
      'FB_CONFIG_NOT_PROMOTABLE',
      `${what} has no staging drill on record in ${displayPath(stateFile)}. Run "${DRILL_RECORD_COMMAND}" to drill this exact content; it records the result, and a passing one makes it promotable.`,
    );
  if (proof.verdict !== 'pass')
    throw fbError(
      'FB_CONFIG_NOT_PROMOTABLE',
      `${what} failed its latest staging drill (${describeDrill(proof)}): ${proof.summary}${proof.violations.length > 0 ? ` [${proof.violations.slice(0, 2).join('; ')}${proof.violations.length > 2 ? `; ${proof.violations.length - 2} more` : ''}]` : ''}. Fix the config in staging; a changed config needs its own passing drill ("${DRILL_RECORD_COMMAND}").`,
    );

  const changes = diffNamespaces(prod.document, staging.document).filter((c) => c.promoted);
  const result = {
    service,
    from: 'staging' as const,
    to: 'prod' as const,
    hash: staging.hash,
    previousHash: prod.hash,
    file: prodFile,
    proof,
    changes,
  };
  if (changes.length === 0 || options.dryRun) return { ...result, written: false };

  // prod's document with staging's tunables node: prod's comments and bindings stay as they are.
  const prodDoc = parseDocument(prod.text);
  const stagingTunables = parseDocument(staging.text).get('tunables', true);
  if (!isMap(stagingTunables)) throw new Error('validated staging namespace has no tunables mapping');
  prodDoc.set('tunables', stagingTunables.clone());
  const text = prodDoc.toString();
  const check = parseNamespace(text, prodFile, { service, env: 'prod' });
  if (!check.ok || check.namespace.hash !== staging.hash)
    throw fbError(
      'FB_INTERNAL',
      `${service}: the promoted prod namespace would not carry staging's content ${shortHash(staging.hash)}; nothing was written`,
    );

  const tmp = `${prodFile}.promote-${process.pid}.tmp`;
  try {
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, prodFile);
  } finally {
    await rm(tmp, { force: true });
  }
  return { ...result, written: true };
}
