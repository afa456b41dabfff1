// Loaded into the measured server (`node --import dist/bench/alloc-preload.js …`) by
// bench/alloc-per-request.ts, which drives it over the IPC channel: 'start' opens a window, 'stop'
// answers what the main thread's V8 heap allocated in it. Counted, not timed: V8's GCProfiler
// gives the used heap before and after every GC, so the bytes allocated are the growth of the used
// heap between GCs (nothing is freed outside a GC), whatever the machine's load.
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { Session } from 'node:inspector/promises';

export interface AllocWindow {
  allocatedBytes: number;
  scavenges: number;
  /** Mark-compacts (full GCs) in the window. */
  fullGcs: number;
  /** Bytes the scavenges freed (used heap before minus after). */
  scavengedBytes: number;
  /** Top allocation sites by bytes (with `sample`): V8's sampling heap profiler, objects collected by GCs included. */
  top?: Array<{ bytes: number; site: string }>;
}

interface GcStatistics {
  gcType: string;
  beforeGC: { heapStatistics: { usedHeapSize: number } };
  afterGC: { heapStatistics: { usedHeapSize: number } };
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

if (process.send !== undefined) {
  // The channel must not keep the server alive once it is told to stop.
  process.channel?.unref();
  let profiler: GCProfiler | undefined;
  let session: Session | undefined;
  let usedAtStart = 0;

  const topSites = async (s: Session): Promise<AllocWindow['top']> => {
    const { profile } = (await s.post('HeapProfiler.stopSampling')) as { profile: { head: SamplingNode } };
    const bySite = new Map<string, number>();
    const walk = (node: SamplingNode, parent: string) => {
      const { functionName, url, lineNumber } = node.callFrame;
      const where = url ? `${url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}` : '(native)';
      const site = `${functionName || '(anonymous)'} ${where}${functionName && url ? '' : ` <- ${parent}`}`;
      if (node.selfSize > 0) bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
      for (const child of node.children) walk(child, functionName && url ? `${functionName} ${where}` : parent);
    };
    walk(profile.head, '(root)');
    return [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([site, bytes]) => ({ bytes, site }));
  };

  process.on('message', (message: { cmd: 'start' | 'stop'; sample?: boolean }) => {
    void (async () => {
      if (message.cmd === 'start') {
        if (message.sample === true) {
          session = new Session();
          session.connect();
          // Objects the GCs collected count too: per-request garbage is what this is looking for.
          await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as object);
        }
        profiler = new GCProfiler();
        usedAtStart = getHeapStatistics().used_heap_size;
        profiler.start();
        process.send!({ started: true });
        return;
      }
      const usedAtEnd = getHeapStatistics().used_heap_size;
      const gcs = (profiler!.stop()?.statistics ?? []) as GcStatistics[];
      const window: AllocWindow = { allocatedBytes: 0, scavenges: 0, fullGcs: 0, scavengedBytes: 0 };
      let used = usedAtStart;
      for (const gc of gcs) {
        const before = gc.beforeGC.heapStatistics.usedHeapSize;
        const after = gc.afterGC.heapStatistics.usedHeapSize;
        window.allocatedBytes += Math.max(0, before - used);
        used = after;
        if (gc.gcType === 'Scavenge') {
          window.scavenges++;
          window.scavengedBytes += before - after;
        } else if (gc.gcType === 'MarkSweepCompact') window.fullGcs++;
      }
      window.allocatedBytes += Math.max(0, usedAtEnd - used);
      if (session !== undefined) {
        window.top = await topSites(session);
        session.disconnect();
        session = undefined;
      }
      process.send!(window);
    })();
  });
}
