// Four columns' image bases and receptive-field origins; a column past the end gets a
// row far outside the image, so its loads read zero.
struct Cols { base: vec4<u32>, iy: vec4<i32>, ix: vec4<i32> }
fn columns(g: u32, col: u32) -> Cols {
    var c: Cols;
    {{COLUMNS}}
    return c;
}

fn load_b(g: u32, k: u32, c: Cols) -> vec4<{{X_T}}> {
    var v = vec4<{{X_T}}>(0.0);
    if (k >= params.reduction) {
        return v;
    }
    let ci = k / KHW;
    let kyx = k % KHW;
    let iy = c.iy + vec4<i32>(i32(kyx / KW) * params.dil_h);
    let ix = c.ix + vec4<i32>(i32(kyx % KW) * params.dil_w);
    {{INSIDE}}
    let at = c.base + vec4<u32>(ci * params.xs_c);
    {{LOADS}}
    return v;
}
