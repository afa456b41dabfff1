// Child-process inference worker used only by bench/runtime.ts, to compare worker threads with
// processes (the same session helpers as src/workers/worker.ts, over an IPC channel).
import { createSession, errorText, runSession, type OrtSession } from '../src/runtime/session.js';
import type { ModelSource, NamedTensors } from '../src/runtime/types.js';

type Msg = { type: 'load'; models: ModelSource[] } | { type: 'run'; id: number; model: string; feeds: NamedTensors };
const sessions = new Map<string, OrtSession>();

process.on('message', (msg: Msg) => {
  if (msg.type === 'load') {
    void (async () => {
      for (const m of msg.models) sessions.set(m.name, await createSession(m.path, m.bytes, { intraOpThreads: 1, interOpThreads: 1 }));
      process.send?.({ type: 'loaded' });
    })();
  } else {
    const session = sessions.get(msg.model);
    if (session === undefined) return;
    runSession(msg.model, session, msg.feeds).then(
      (outputs) => process.send?.({ type: 'result', id: msg.id, outputs }),
      (err) => process.send?.({ type: 'error', id: msg.id, message: errorText(err) }),
    );
  }
});
process.on('disconnect', () => process.exit(0));
