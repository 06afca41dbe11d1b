const KW: u32 = {{KW}}u;
const KHW: u32 = {{KHW}}u;

// Column j = (c, ky, kx) of the patches: its input channel's offset (NONE past the last column)
// and its tap's offset from an output pixel's receptive-field origin.
struct Col { base: u32, dy: i32, dx: i32 }
fn columns(z: u32, col: u32) -> Col {
    let c = col / KHW;
    let tap = col % KHW;
    let channel = (params.g0 + z % params.groups) * params.group_in + c;
    let base = params.x_offset + channel * params.xs_c;
    return Col(select(NONE, base, col < params.cols), i32(tap / KW) * params.dil_h - params.pad_top, i32(tap % KW) * params.dil_w - params.pad_left);
}

// The input x at steps k..k + 4 of the split, for column c (padding read per the mode).
fn load_b(z: u32, k: u32, c: Col) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    let s = steps(z);
    let t = s.x + k;
    if (c.base == NONE || t >= s.y) {
        return v;
    }
    {{X_LOADS}}
    return v;
}
