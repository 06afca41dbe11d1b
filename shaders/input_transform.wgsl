// Input transform: one invocation per (channel, tile). Reads the α×α input patch of the tile
// (zero outside the image, so padding costs no copy) and writes V = Bᵀ d B to the
// Winograd-domain buffer, one value per tile element e. The vector-load variants bind the input
// as vec2s or vec4s and fetch the aligned middle of each patch row with whole-vector loads, so a
// warp's loads cover whole lines instead of every m-th element of them.
{{ENABLE}}
alias act_t = {{ACT}};

{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
{{X_BINDING}}
@group(0) @binding(2) var<storage, read_write> v: array<f32>;

{{WINO_INDEX}}

{{ACCESSORS}}

{{PAD_FUNCTIONS}}

{{LOAD}}

@compute @workgroup_size({{WORKGROUP}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * {{WORKGROUP}}u;
    if (id >= params.channels * params.tiles) {
        return;
    }
    let c = id / params.tiles;
    let p = id % params.tiles;
    let t = p % params.tiles_per_image;
    let y0 = i32((params.tile_row0 + t / params.tiles_w) * {{M}}u) - params.pad_top;
    let xa = (t % params.tiles_w) * {{M}}u;
    let x0 = i32(xa) - params.pad_left;
    let base = params.x_offset + (p / params.tiles_per_image) * params.xs_n + c * params.xs_c;
    {{BODY}}
}
