// `modelserve <command>`: dispatches to each command's module, loaded lazily so that
// `serve` does not pay for the load tester's imports (cold start matters).

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }> = {
  serve: { summary: 'serve a model repository (or one model folder) over HTTP', load: () => import('./serve.js') },
  loadtest: { summary: 'load-test a service: closed/open model, capacity search, reports', load: () => import('../loadtest/cli.js') },
  check: { summary: 'check every model of a repository (config, scaler, ONNX signature, a data sample); no port opened', load: () => import('../check/cli.js') },
  convert: { summary: 'convert an XGBoost JSON model into the ONNX graph modelserve serves for it', load: () => import('../xgboost/cli.js') },
  init: { summary: 'write a model folder with a commented model.yaml from a model file (and a data sample)', load: () => import('../init/cli.js') },
  inspect: { summary: "show an .onnx file's inputs, outputs, operators and metadata", load: () => import('../inspect/cli.js') },
  optimize: { summary: 'write the optimised (dense-tensor) form of an .onnx file', load: () => import('../optimize/cli.js') },
};

export function usage(): string {
  const lines = ['Usage: modelserve <command> [options]', '', 'Commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', 'Run `modelserve <command> --help` for the options of a command; `modelserve --version` prints the version.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(usage());
    return command ? 0 : 2;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    const { VERSION } = await import('../version.js');
    console.log(VERSION);
    return 0;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    const { didYouMean } = await import('../closest-name.js');
    console.error(`modelserve: unknown command '${command}'${didYouMean(command, Object.keys(COMMANDS))}\n\n${usage()}`);
    return 2;
  }
  const mod = await entry.load();
  return mod.run(rest);
}
