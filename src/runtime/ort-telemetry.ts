// onnxruntime 1.30's Linux build starts Microsoft's 1DS telemetry when its first session is made:
// a mat-debug-<pid>.log and a .ses file in $TMPDIR (one more log on every start), an SQLite cache
// under $HOME/.cache/Microsoft, and an uploader. A model server should not phone home or litter
// /tmp by default; ORT_DISABLE_TELEMETRY=1 turns all of it off. Imported for its side effect before
// onnxruntime-node, in the main thread (src/workers/pool.ts, before any worker starts) as well:
// onnxruntime reads the real environment, which a worker thread's process.env does not change.
// A value the user set (ORT_DISABLE_TELEMETRY=0 keeps telemetry on) is left as it is.
process.env.ORT_DISABLE_TELEMETRY ??= '1';
