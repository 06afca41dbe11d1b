// One column's element offset at channel 0 (its pixel in NHWC, channels contiguous and
// aligned), or NONE.
const NONE: u32 = 0xffffffffu;
fn columns(g: u32, col: u32) -> u32 {
    let b = column_base(g, col);
    return select(NONE, b.x + b.y * params.stride_h * params.xs_h + b.z * params.stride_w * params.xs_w, col < params.columns);
}

// Four consecutive reduction steps (channels) k..k+3 of one column.
fn load_b(g: u32, k: u32, c: u32) -> vec4<{{X_T}}> {
    if (k >= params.reduction || c == NONE) {
        return vec4<{{X_T}}>(0.0);
    }
    return {{LD}}4((c + k) / 4u);
}
