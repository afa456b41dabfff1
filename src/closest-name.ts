// "Did you mean …?" for a mistyped name: a command-line option (`--wach`), a command (`serv`) or
// a key of a model config (`lables:`). A typo is a letter missed, added, changed or two swapped,
// so the suggestion is the known name at the smallest such edit distance, when that distance is
// small for the name's length (a third of it, at least 1), so that `--foo` suggests nothing.

/** Edits (insert, delete, substitute, swap two neighbours) that turn a into b: the optimal string alignment distance. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) { rows[0]![j] = j; continue; }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The known names the typed one most likely means: the one at the smallest edit distance when
 * that is close enough, else those it is the start of (`--max-batch` for `--max-batch-size`).
 * Case and leading dashes are ignored; a name of one or two letters (`-x`) suggests nothing.
 */
export function closestNames(typed: string, known: Iterable<string>): string[] {
  const bare = (name: string) => name.replace(/^-+/, '').toLowerCase();
  const word = bare(typed);
  if (word.length < 3) return [];
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: { name: string; distance: number } | undefined;
  const extending: string[] = [];
  for (const name of known) {
    const distance = editDistance(word, bare(name));
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { name, distance };
    if (bare(name).startsWith(word)) extending.push(name);
  }
  return best ? [best.name] : extending.slice(0, 3);
}

/** ` (did you mean X?)` or ` (did you mean X or Y?)` when known names are close to the typed one, else ''. */
export function didYouMean(typed: string, known: Iterable<string>): string {
  const names = closestNames(typed, known);
  return names.length === 0 ? '' : ` (did you mean ${names.join(' or ')}?)`;
}

/**
 * "unknown option --wach (did you mean --watch?)" for an argument that starts with '-' and is none
 * of the command's options (`known`, written with their dashes). `--name=value` is judged by its name.
 */
export function unknownOptionMessage(arg: string, known: Iterable<string>): string {
  const option = arg.startsWith('--') ? arg.split('=', 1)[0]! : arg;
  return `unknown option ${option}${didYouMean(option, known)}`;
}

/**
 * node:util parseArgs' error, reworded where it buries the point: its unknown-option message
 * ("Unknown option '--wach'. To specify a positional argument starting with a '-', …") becomes
 * unknownOptionMessage's. Other messages (a missing value) are kept.
 */
export function parseArgsMessage(err: unknown, options: Readonly<Record<string, { readonly type: string; readonly short?: string }>>): string {
  const e = err as { code?: string; message?: string };
  const unknown = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /^Unknown option '([^']+)'/.exec(e.message ?? '')?.[1] : undefined;
  if (unknown === undefined) return e.message ?? String(err);
  const known = Object.entries(options).flatMap(([name, spec]) => (spec.short ? [`--${name}`, `-${spec.short}`] : [`--${name}`]));
  return unknownOptionMessage(unknown, known);
}
