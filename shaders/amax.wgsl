// The largest magnitude of a tensor, for the tensor-core path's power-of-two scales: each
// invocation folds a grid-strided run of elements (four loads in flight per step; vec4 loads
// where the tensor's offset and length are multiples of 4, for four times the bytes), the
// workgroup reduces through workgroup memory, and one invocation per workgroup max-accumulates
// into amax[0] (cleared before the call): a few hundred atomics, not one per invocation, which
// serialised at one address cost 4× the loads on the H100. The tree in workgroup memory, not
// `subgroupMax`, keeps the kernel valid WGSL for every compiler (Tint refuses subgroup
// built-ins without `enable subgroups;`, which naga 30 refuses). Non-negative floats order like
// their bits, and |NaN|'s bits exceed Inf's, so a NaN input yields a non-finite maximum and
// the scale 1.
{{HEADER}}
{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<{{LOAD}}>;
@group(0) @binding(2) var<storage, read_write> amax: array<atomic<u32>>;

var<workgroup> partial: array<u32, 256>;

const WIDTH: u32 = {{WIDTH}}u;

// The largest |x| of load i, as bits.
fn mag(i: u32) -> u32 {
    let n = params.count / WIDTH;
    let b = bitcast<{{BITS}}>(abs({{F32}}(x[params.offset / WIDTH + min(i, n - 1u)])));
    return select(0u, {{FOLD}}, i < n);
}

@compute @workgroup_size(256)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    var m = 0u;
    let step = groups.x * 256u;
    for (var i = gid.x; i < params.count / WIDTH; i += 4u * step) {
        m = max(max(m, max(mag(i), mag(i + step))), max(mag(i + 2u * step), mag(i + 3u * step)));
    }
    partial[li] = m;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if (li < half) {
            partial[li] = max(partial[li], partial[li + half]);
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        atomicMax(&amax[0], partial[0]);
    }
}
