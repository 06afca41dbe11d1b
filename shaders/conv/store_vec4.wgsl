// The output offset of four aligned pixels of one image without the channel term, or NONE.
fn outputs(col: u32) -> u32 {
    let n = col / params.out_hw;
    return select(0xffffffffu, n * params.ys_n + col % params.out_hw, col < params.columns);
}

fn store(g: u32, row: u32, o: u32, value: vec4<f32>) {
    if (row < params.group_out && o != 0xffffffffu) {
        let k = g * params.group_out + row;
        let rel = (o + k * params.ys_c) / 4u;
        st_y4(params.y_offset / 4u + rel, finish(value, k, rel));
    }
}
