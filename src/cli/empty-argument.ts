// An empty argument is most often an unset variable (`modelserve inspect "$MODEL"`): taken as a file
// named '' it failed with "modelserve inspect:  does not exist" (exit 1), and `init -o ""` wrote into
// the working folder. The commands refuse it as a usage error naming the argument.

/** The usage error for the first of `args` (shown name -> value given) that is blank, if any. */
export function emptyArgumentMessage(args: Record<string, string | undefined>): string | undefined {
  const blank = Object.entries(args).find(([, value]) => value !== undefined && value.trim() === '');
  return blank && `${blank[0]} is an empty argument (an unset variable?)`;
}
