// Output transform: one invocation per (output channel, tile). Gathers the α×α products of the
// tile, computes Y = Aᵀ M A, crops it at the image edge and applies the fused epilogue
// (bias, residual, activation) on the way out. The vector-store variants bind the output (and
// residual) as vec2s or vec4s and write each row of the tile with m/2 or m/4 stores.
{{ENABLE}}
alias act_t = {{ACT}};

{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> prod: array<f32>;
{{Y_BINDING}}
{{EPILOGUE_BINDINGS}}

{{WINO_INDEX}}

{{ACCESSORS}}

{{EPILOGUE}}

@compute @workgroup_size({{WORKGROUP}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * {{WORKGROUP}}u;
    if (id >= params.out_channels * params.tiles) {
        return;
    }
    let k = id / params.tiles;
    let p = id % params.tiles;
    let t = p % params.tiles_per_image;
    let y0 = (params.tile_row0 + t / params.tiles_w) * {{M}}u;
    let x0 = (t % params.tiles_w) * {{M}}u;
    let base = (p / params.tiles_per_image) * params.ys_n + k * params.ys_c;
    {{BODY}}
}
