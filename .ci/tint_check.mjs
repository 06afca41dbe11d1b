// Compiles every kernel file given on the command line through Dawn/Tint (Chrome's WebGPU, the
// npm package `webgpu`), on its null backend: Tint's front end and Dawn's validation, no driver.
// Usage: node tint_check.mjs DIR FILE...   Fails (exit 1) unless every kernel creates a pipeline.
import { create, globals } from 'webgpu';
import fs from 'fs';

Object.assign(globalThis, globals);
const gpu = create(['backend=null']);
const adapter = await gpu.requestAdapter();
const features = [...adapter.features].filter((f) => ['shader-f16', 'subgroups'].includes(f));
const device = await adapter.requestDevice({ requiredFeatures: features });
const [dir, ...files] = process.argv.slice(2);
const failed = [];
for (const file of files) {
  const code = fs.readFileSync(`${dir}/${file}`, 'utf8');
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
  device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const scope = await device.popErrorScope();
  if (errors.length || scope) {
    failed.push(`${file}: ${errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ') || scope.message}`);
  }
}
console.log(`tint: ${files.length - failed.length} of ${files.length} kernels compile (features: ${features.join(', ')})`);
for (const f of failed) console.log(`tint: FAILED ${f.slice(0, 400)}`);
process.exit(failed.length ? 1 : 0);
