// Four columns' element offsets at channel 0; a column past the end gets NONE.
const NONE: u32 = 0xffffffffu;
fn columns(g: u32, col: u32) -> vec4<u32> {
    var c: vec4<u32>;
    {{COLUMNS}}
    return c;
}

fn load_b(g: u32, k: u32, c: vec4<u32>) -> vec4<{{X_T}}> {
    var v = vec4<{{X_T}}>(0.0);
    if (k >= params.reduction) {
        return v;
    }
    {{LOADS}}
    return v;
}
