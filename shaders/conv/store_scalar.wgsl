// Four pixels' output offsets without the channel term; `ok` marks those that exist.
struct Outs { rel: vec4<u32>, ok: vec4<bool> }
fn outputs(col: u32) -> Outs {
    var o: Outs;
    {{OFFSETS}}
    return o;
}

fn store(g: u32, row: u32, o: Outs, value: vec4<f32>) {
    if (row >= params.group_out) {
        return;
    }
    let k = g * params.group_out + row;
    {{STORES}}
}
