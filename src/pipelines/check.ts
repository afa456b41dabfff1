// The cross-model rules of pipelines, which need the other models' configs: every step names a
// model (and version) of the repository, the fields flow (a step's input is a request field or an
// earlier step's output of a compatible type), what the answer selects or combines exists, and no
// pipeline reaches itself through its steps. It also derives what a pipeline serves: its request
// fields (what its steps take from the request) and its response fields (what it answers), so a
// pipeline has a ModelConfig like any model (validation, OpenAPI, GET /models). Every problem is
// reported at once, with file and key path.
import type { Problem } from '../config/load.js';
import type { FieldSpec, ModelConfig, OutputSpec, PipelineStepSpec, ValueType } from '../config/types.js';

/** A value a step answers: its type as it flows on, and how the answer serializes it. */
export interface FlowValue {
  field: string;
  type: ValueType;
  spec: OutputSpec;
}

/** What a step (model, nested pipeline or remote service) takes and answers. */
export interface StepIO {
  fields: FieldSpec[];
  outputs: FlowValue[];
}

function outputType(o: OutputSpec): ValueType {
  return o.kind === 'label' ? 'string' : o.kind === 'column' ? 'number' : 'any';
}

/** Whether a value of type `from` is a valid value of a field of type `to`. */
export function compatible(from: ValueType, to: ValueType): boolean {
  if (from === 'any' || to === 'any' || from === to) return true;
  return to === 'number' && from === 'integer';
}

function remoteSpec(field: string, type: ValueType): OutputSpec {
  return type === 'number' ? { field, from: field, kind: 'column', column: 0 } : { field, from: field, kind: 'raw' };
}

/** The served (derived) configs of the pipelines among `configs`, and every problem found. */
export function resolvePipelines(configs: readonly ModelConfig[]): { derived: Map<ModelConfig, ModelConfig>; problems: Problem[] } {
  const problems: Problem[] = [];
  const derived = new Map<ModelConfig, ModelConfig>();
  const failed = new Set<ModelConfig>();
  const visiting: ModelConfig[] = [];
  const byName = new Map<string, ModelConfig[]>();
  for (const c of configs) byName.set(c.name, [...(byName.get(c.name) ?? []), c]);

  const ioOf = (config: ModelConfig): StepIO | undefined => {
    if (!config.pipeline) return { fields: config.fields, outputs: config.outputs.map((o) => ({ field: o.field, type: outputType(o), spec: o })) };
    const d = derive(config);
    return d && { fields: d.fields, outputs: d.outputs.map((o) => ({ field: o.field, type: d.pipeline?.outputTypes?.[o.field] ?? outputType(o), spec: o })) };
  };

  const stepIO = (owner: ModelConfig, step: PipelineStepSpec, at: (path: string, message: string) => void): StepIO | undefined => {
    if (step.remote) {
      return { fields: step.remote.fields, outputs: step.remote.outputs.map((o) => ({ field: o.field, type: o.type, spec: remoteSpec(o.field, o.type) })) };
    }
    const ref = step.model;
    if (!ref) return undefined; // a step of neither model: nor remote: (its config's problem, said where it was read)
    const candidates = byName.get(ref.name);
    if (!candidates || candidates.length === 0) {
      at(`${step.path}.model`, `no model '${ref.name}' in the repository (models: ${[...byName.keys()].filter((n) => n !== owner.name).sort().join(', ') || 'none'})`);
      return undefined;
    }
    const target = ref.version === undefined
      ? candidates.reduce((a, b) => (b.modelVersion > a.modelVersion ? b : a))
      : candidates.find((c) => c.modelVersion === ref.version);
    if (!target) {
      at(`${step.path}.version`, `model '${ref.name}' serves no version ${ref.version} (served: ${candidates.map((c) => c.modelVersion).sort((a, b) => a - b).join(', ')})`);
      return undefined;
    }
    if (visiting.includes(target)) {
      const cycle = [...visiting.slice(visiting.indexOf(target)), target].map((c) => c.name).join(' -> ');
      at(`${step.path}.model`, `cycle: ${cycle}`);
      return undefined;
    }
    if (target.pipeline && failed.has(target)) return undefined; // its own problems are reported at its file
    // A folder with only an .onnx file has no fields nor outputs to take and answer: the pipeline
    // would load with none and every request fail with the step's MS_ERR_NO_FIELDS_API.
    if (target.kind === 'raw') {
      at(`${step.path}.model`, `model '${ref.name}' has no fields (it is served from its .onnx file without a model.yaml): a step needs its fields and outputs — write its model.yaml (modelserve init ${target.modelFile} -o ${target.modelDir})`);
      return undefined;
    }
    return ioOf(target);
  };

  function derive(config: ModelConfig): ModelConfig | undefined {
    if (derived.has(config)) return derived.get(config);
    if (failed.has(config)) return undefined;
    const spec = config.pipeline!;
    const before = problems.length;
    const at = (path: string, message: string) => problems.push({ file: config.configFile, path, message });
    visiting.push(config);
    const ios = spec.steps.map((step) => stepIO(config, step, at));
    visiting.pop();

    // Request fields: what the steps take that no earlier step answers (renamed as the steps say).
    const requestFields: FieldSpec[] = [];
    const available = new Map<string, { type: ValueType; spec?: OutputSpec; producer?: string; step?: number }>();
    // The fields the pipeline reads from each step's answer (a later step's input, a response field): only these must
    // still be there when the step's model is reloaded with other outputs (a field no one reads is no reason for a 502).
    const read = spec.steps.map(() => new Set<string>());
    const addRequestField = (name: string, f: FieldSpec, path: string, step: string) => {
      const known = requestFields.find((r) => r.name === name);
      if (!known) {
        requestFields.push({ ...f, name });
        available.set(name, { type: f.type });
        return;
      }
      // A value every step taking the field accepts: an integer is a valid number, so integer and number make integer.
      const type = compatible(f.type, known.type) ? f.type : compatible(known.type, f.type) ? known.type : undefined;
      if (type === undefined) {
        at(path, `request field '${name}' is ${f.type} for step '${step}' but ${known.type} for an earlier step`);
        return;
      }
      const merged: FieldSpec = { ...known, type };
      if (f.required && !known.required) Object.assign(merged, { required: true, default: undefined });
      // Steps with different defaults (or one without): the pipeline fills in none, so each step fills in its own.
      else if (!merged.required && f.default !== known.default) merged.default = undefined;
      requestFields[requestFields.indexOf(known)] = merged;
      available.set(name, { type });
    };
    const feed = (step: PipelineStepSpec, io: StepIO, sequential: boolean, later: ReadonlyMap<string, string>) => {
      const names = new Set(io.fields.map((f) => f.name));
      for (const key of Object.keys(step.inputs)) {
        if (!names.has(key)) at(`${step.path}.inputs.${key}`, `step '${step.name}' has no field '${key}' (its fields: ${[...names].join(', ')})`);
      }
      for (const f of io.fields) {
        // Own keys only: a field named like an Object method (constructor, toString) is no rename.
        const renamed = Object.hasOwn(step.inputs, f.name);
        const source = renamed ? step.inputs[f.name]! : f.name;
        const path = renamed ? `${step.path}.inputs.${f.name}` : step.path;
        const have = sequential ? available.get(source) : undefined;
        if (have?.producer !== undefined) {
          read[have.step!]!.add(source);
          if (!compatible(have.type, f.type)) at(path, `type mismatch: '${source}' is ${have.type} (answered by step '${have.producer}') but step '${step.name}' takes '${f.name}' as ${f.type}`);
          continue;
        }
        if (later.has(source)) at(path, `'${source}' is answered by step '${later.get(source)}', which runs after step '${step.name}'`);
        addRequestField(source, f, path, step.name);
      }
    };

    let outputs: OutputSpec[] = [];
    // The type of each response field as it flows (a raw field's spec does not say: a string, a number...).
    const types = new Map<string, ValueType>();
    const select = (pick: Record<string, string>, from: ReadonlyMap<string, { type: ValueType; spec?: OutputSpec; step?: number }>, readFrom: (source: string, step?: number) => void) => {
      for (const [out, source] of Object.entries(pick)) {
        const v = from.get(source);
        if (v) readFrom(source, v.step);
        if (!v) at(`pipeline.outputs.${out}`, `'${source}' is not a request field nor answered by a step (available: ${[...from.keys()].join(', ')})`);
        else {
          outputs.push(v.spec ? { ...v.spec, field: out } : { field: out, from: source, kind: 'raw' });
          types.set(out, v.type);
        }
      }
    };

    if (spec.kind === 'sequence') {
      spec.steps.forEach((step, i) => {
        const io = ios[i];
        if (!io) return;
        const later = new Map<string, string>();
        spec.steps.slice(i + 1).forEach((s, j) => { for (const o of ios[i + 1 + j]?.outputs ?? []) if (!later.has(o.field)) later.set(o.field, s.name); });
        feed(step, io, true, later);
        for (const o of io.outputs) available.set(o.field, { type: o.type, spec: o.spec, producer: step.name, step: i });
      });
      const last = ios[ios.length - 1];
      if (spec.outputs) select(spec.outputs, available, (source, step) => { if (step !== undefined) read[step]!.add(source); });
      else if (last) {
        for (const o of last.outputs) read[ios.length - 1]!.add(o.field);
        outputs = last.outputs.map((o) => o.spec);
        for (const o of last.outputs) types.set(o.field, o.type);
      }
    } else if (spec.kind === 'ensemble') {
      spec.steps.forEach((step, i) => { if (ios[i]) feed(step, ios[i]!, false, new Map()); });
      for (const [out, c] of Object.entries(spec.combine ?? {})) {
        const values = spec.steps.map((step, i) => ({ step, value: ios[i]?.outputs.find((o) => o.field === c.from) }));
        for (const r of read) r.add(c.from);
        for (const { step, value } of values) {
          if (ios[spec.steps.indexOf(step)] && !value) at(`pipeline.combine.${out}`, `step '${step.name}' does not answer '${c.from}'`);
          else if (value && c.method !== 'vote' && !compatible(value.type, 'number')) at(`pipeline.combine.${out}`, `${c.method} needs numbers but step '${step.name}' answers '${c.from}' as ${value.type}`);
        }
        const specs = values.map((v) => v.value?.spec).filter((s): s is OutputSpec => s !== undefined);
        const voted = new Set(values.map((v) => v.value?.type).filter((t) => t !== undefined));
        types.set(out, c.method !== 'vote' ? 'number' : voted.size === 1 ? [...voted][0]! : 'any');
        if (c.method !== 'vote') outputs.push({ field: out, from: out, kind: 'column', column: 0 });
        else if (specs.length > 0 && specs.every((s) => s.kind === 'label')) {
          const map: Record<string, string> = {};
          for (const s of specs) Object.assign(map, (s as Extract<OutputSpec, { kind: 'label' }>).map);
          outputs.push({ field: out, from: out, kind: 'label', map });
        } else outputs.push({ field: out, from: out, kind: 'raw' });
      }
    } else {
      spec.steps.forEach((step, i) => { if (ios[i]) feed(step, ios[i]!, false, new Map()); });
      // The conditions' fields: a branch's field, or a request field of their own.
      for (const step of spec.steps) {
        const w = step.when;
        if (!w) continue;
        const value = 'equals' in w ? w.equals : 'in' in w ? w.in[0] : 0;
        const type: FieldSpec['type'] = typeof value === 'string' ? 'string' : typeof value === 'boolean' ? 'boolean' : 'number';
        const known = requestFields.find((f) => f.name === w.field);
        const values = 'equals' in w ? [w.equals] : 'in' in w ? w.in : [];
        if (!known) addRequestField(w.field, { name: w.field, type, required: true }, `${step.path}.when.field`, step.name);
        else if ('range' in w ? known.type !== 'number' && known.type !== 'integer' : values.some((v) => !compatible(typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'boolean' : Number.isInteger(v) ? 'integer' : 'number', known.type))) {
          at(`${step.path}.when`, `field '${w.field}' is ${known.type}; the condition compares it with ${'range' in w ? 'a numeric range' : JSON.stringify(values)}`);
        }
      }
      // Fields every branch answers (the answer cannot depend on the branch's shape).
      const answered = ios.filter((io): io is StepIO => io !== undefined);
      const common = new Map<string, { type: ValueType; spec?: OutputSpec }>();
      if (answered.length === spec.steps.length) {
        for (const o of answered[0]!.outputs) {
          const all = answered.map((io) => io.outputs.find((x) => x.field === o.field));
          if (all.every((x) => x !== undefined)) {
            const types = new Set(all.map((x) => x!.type));
            if (types.size > 1) at('pipeline.switch', `the branches answer '${o.field}' with different types (${[...types].join(', ')})`);
            common.set(o.field, { type: o.type, spec: o.spec });
          }
        }
        if (common.size === 0) at('pipeline.switch', 'the branches answer no field in common');
        for (const f of requestFields) if (!common.has(f.name)) common.set(f.name, { type: f.type });
        // Whichever branch runs answers the field.
        const fromEveryBranch = (field: string) => { for (const r of read) r.add(field); };
        if (spec.outputs) select(spec.outputs, common, fromEveryBranch);
        else {
          for (const [field, v] of common) if (v.spec) fromEveryBranch(field);
          outputs = [...common.values()].filter((v) => v.spec).map((v) => v.spec!);
          for (const [field, v] of common) if (v.spec) types.set(field, v.type);
        }
      }
    }
    if (problems.length > before) {
      failed.add(config);
      return undefined;
    }
    // A pipeline's response fields read themselves (OIP and the tensor path name outputs by field).
    const served: ModelConfig = {
      ...config, fields: requestFields, outputs: outputs.map((o) => (o.kind === 'column' ? { ...o, from: o.field, column: 0 } : { ...o, from: o.field })),
      pipeline: { ...spec, steps: spec.steps.map((s, i) => ({ ...s, answers: ios[i]?.outputs.map((o) => o.field).filter((f) => read[i]!.has(f)) })), outputTypes: Object.fromEntries(outputs.map((o) => [o.field, types.get(o.field) ?? outputType(o)])) },
    };
    derived.set(config, served);
    return served;
  }

  for (const c of configs) if (c.pipeline) derive(c);
  return { derived, problems };
}
