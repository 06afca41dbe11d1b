{{ACCESSORS}}

{{PAD_FUNCTIONS}}

const KW: u32 = {{KW}}u;
const KHW: u32 = {{KHW}}u;

// Four rows of the packed weights, in their stored type ({{W_T}}: f16 weights go to f16 fragments
// as stored, with no round trip through f32).
fn load_a(g: u32, k: u32, row: u32) -> vec4<{{W_T}}> {
    if (k >= params.reduction || row >= params.k_stride) {
        return vec4<{{W_T}}>(0.0);
    }
    return {{W_LOAD}};
}

// Image offset, channel-group offset and output pixel of one column.
fn column_base(g: u32, q: u32) -> vec3<u32> {
    let n = q / params.out_hw;
    let pix = q % params.out_hw;
    return vec3<u32>(params.x_offset + n * params.xs_n + g * params.group_in * params.xs_c, pix / params.out_w, pix % params.out_w);
}

{{GATHER}}

{{EPILOGUE}}

{{STORE}}
