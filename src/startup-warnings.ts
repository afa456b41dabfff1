// What serve warns of at start-up, as the lines it logs: said in the log once the server has a logger, and added
// to the start-up's failure message when it fails before (they may explain the failure).
import { relative } from 'node:path';
import { mixedLayouts, repositoryDanglingLinks, repositoryVersionLookalikes, withListings } from './config/load.js';

/** Each warning line starts with one of these (the log message's words): check's list of a failed start-up keeps them. */
export const STARTUP_WARNING_PREFIXES = ['model config: ', 'model folder layout: ', 'version folder link: ', 'version folder name: '] as const;

export interface StartupWarning {
  message: string;
  /** The problem's own words, when a failure's message may already hold them (no model found names the links). */
  said?: string;
  where: Record<string, unknown>;
}

/** The repository's layout warnings: a flat model file beside numbered folders, version folder links to nothing, subfolders named like versions that are none (`02`, `v3`). */
export function repositoryWarnings(repo: string): StartupWarning[] {
  const rel = (file: string) => relative(process.cwd(), file) || file;
  // Three walks of the repository, each folder listed once for all three.
  return withListings(() => [
    ...mixedLayouts(repo).map((p) => ({ message: `model folder layout: ${rel(p.file)}: ${p.message}`, where: { folder: p.file } })),
    ...repositoryVersionLookalikes(repo).map((p) => ({ message: `version folder name: ${rel(p.file)}: ${p.message}`, where: { folder: p.file } })),
    ...repositoryDanglingLinks(repo).map((p) => ({ message: `version folder link: ${rel(p.file)}: ${p.message}`, said: p.message, where: { folder: p.file } })),
  ]);
}
