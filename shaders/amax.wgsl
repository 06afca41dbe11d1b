// The largest magnitude of an f32 tensor, for the tensor-core path's per-tensor scale: each
// invocation folds a grid-strided run of elements (four loads in flight per step), the
// workgroup reduces through its subgroups, and one invocation per workgroup max-accumulates
// into amax[0] (cleared before the call): a few hundred atomics, not one per subgroup, which
// serialised at one address cost 4× the loads on the H100. Non-negative floats order like
// their bits, and |NaN|'s bits exceed Inf's, so a NaN input yields a non-finite maximum and
// the scale 1.
{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> amax: array<atomic<u32>>;

var<workgroup> partial: array<u32, 32>;

fn mag(i: u32) -> u32 {
    return select(0u, bitcast<u32>(abs(x[params.offset + i])), i < params.count);
}

@compute @workgroup_size(256)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
) {
    var m = 0u;
    let step = groups.x * 256u;
    for (var i = gid.x; i < params.count; i += 4u * step) {
        m = max(max(m, max(mag(i), mag(i + step))), max(mag(i + 2u * step), mag(i + 3u * step)));
    }
    m = subgroupMax(m);
    if (lane == 0u) {
        partial[li / size] = m;
    }
    workgroupBarrier();
    if (li == 0u) {
        var w = 0u;
        for (var s = 0u; s < 256u / size; s++) {
            w = max(w, partial[s]);
        }
        atomicMax(&amax[0], w);
    }
}
