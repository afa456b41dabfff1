// The real in-process onnxruntime whose runs wait, once held, until let go: a test that needs a run
// to outlast something (a deadline, a queue filling) holds it instead of hoping the machine is slow.
// Its loads can be held the same way, so that a test sees a model while it is loading.
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import type { ModelSignature, ModelSource, NamedTensors } from '../../src/runtime/types.js';

/** The real in-process runtime whose runs wait, once held, until let go (`key`: only that loaded model's runs); its loads too (holdLoads). */
export class HeldRuntime extends InProcessRuntime {
  private held: Promise<void> | undefined;
  private heldKey: string | undefined;
  private release: (() => void) | undefined;
  private loadGate: { open: Promise<void>; go: () => void; arrived: Promise<void>; arrive: () => void } | undefined;
  hold(key?: string): void { this.heldKey = key; this.held = new Promise((go) => { this.release = go; }); }
  letGo(): void { this.release?.(); this.held = undefined; }

  /** Loads from now on wait until letLoadsGo(); the promise resolves once the first of them is waiting. */
  holdLoads(): Promise<void> {
    let go!: () => void;
    let arrive!: () => void;
    const open = new Promise<void>((resolve) => { go = resolve; });
    const arrived = new Promise<void>((resolve) => { arrive = resolve; });
    this.loadGate = { open, go, arrived, arrive };
    return arrived;
  }

  /** Lets every held load go on, and the loads to come. */
  letLoadsGo(): void { this.loadGate?.go(); this.loadGate = undefined; }

  override async load(models: ModelSource[]): Promise<Record<string, ModelSignature>> {
    const gate = this.loadGate;
    if (gate !== undefined) {
      gate.arrive();
      await gate.open;
    }
    return super.load(models);
  }

  override async run(model: string, feeds: NamedTensors, outputNames?: string[]): Promise<NamedTensors> {
    if (this.heldKey === undefined || this.heldKey === model) await this.held;
    return super.run(model, feeds, outputNames);
  }
}
