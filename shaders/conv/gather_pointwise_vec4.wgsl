// The four columns' element offset at channel 0 (one image, contiguous, aligned), or NONE.
const NONE: u32 = 0xffffffffu;
fn columns(g: u32, col: u32) -> u32 {
    let b = column_base(g, col);
    return select(NONE, b.x + b.y * params.xs_h + b.z, col < params.columns);
}

fn load_b(g: u32, k: u32, c: u32) -> vec4<{{X_T}}> {
    if (k >= params.reduction || c == NONE) {
        return vec4<{{X_T}}>(0.0);
    }
    return {{LD}}4((c + k * params.xs_c) / 4u);
}
