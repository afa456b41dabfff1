// The real in-process onnxruntime whose runs wait, once held, until let go: a test that needs a run
// to outlast something (a deadline, a queue filling) holds it instead of hoping the machine is slow.
import { InProcessRuntime } from '../../src/runtime/in-process.js';
import type { NamedTensors } from '../../src/runtime/types.js';

/** The real in-process runtime whose runs wait, once held, until let go (`key`: only that loaded model's runs). */
export class HeldRuntime extends InProcessRuntime {
  private held: Promise<void> | undefined;
  private heldKey: string | undefined;
  private release: (() => void) | undefined;
  hold(key?: string): void { this.heldKey = key; this.held = new Promise((go) => { this.release = go; }); }
  letGo(): void { this.release?.(); this.held = undefined; }
  override async run(model: string, feeds: NamedTensors, outputNames?: string[]): Promise<NamedTensors> {
    if (this.heldKey === undefined || this.heldKey === model) await this.held;
    return super.run(model, feeds, outputNames);
  }
}
