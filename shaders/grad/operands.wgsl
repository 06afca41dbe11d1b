// A parameter gradient's operands for the product core: C (rows × cols) = A (rows × T) · B (T ×
// cols) per (split, channel group), with A[m][t] = dy[n, k0 + g·rows + m, p, q] for reduction
// step t = (n, p, q) of the batch chunk, and B the input's patches (or ones, for the bias).
// Grid layer z = split · groups + g; split z / groups sums t in [split · split_len, (split + 1) ·
// split_len) and writes its block of partial sums to `part[z]`, which a reduce pass adds in
// split order. Steps past the chunk read zero in both operands; rows and columns past the
// matrix edges are never stored.
{{ACCESSORS}}

{{PAD_FUNCTIONS}}

// dy's output width and pixels per image, compiled in: the reduction index splits by constants.
const OUT_W: u32 = {{OUT_W}}u;
const OUT_HW: u32 = {{OUT_HW}}u;
const NONE: u32 = 0xffffffffu;

// The first reduction step of grid layer z's split, and the end of its steps.
fn steps(z: u32) -> vec2<u32> {
    let begin = (z / params.groups) * params.split_len;
    return vec2<u32>(begin, min(begin + params.split_len, params.reduction));
}

// The offset of reduction step t's pixel in dy, without the channel term.
fn dy_pixel(t: u32) -> u32 {
    let pq = t % OUT_HW;
    return params.dy_offset + (t / OUT_HW) * params.ds_n + (pq / OUT_W) * params.ds_h + (pq % OUT_W) * params.ds_w;
}

// dy at steps k..k + 4 of the split, in gradient row `row`.
fn load_a(z: u32, k: u32, row: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    let s = steps(z);
    let t = s.x + k;
    if (row >= params.rows || t >= s.y) {
        return v;
    }
    let ch = (params.k0 + (z % params.groups) * params.rows + row) * params.ds_c;
    {{DY_LOADS}}
    return v;
}

{{B_OPERAND}}

// One row of the split's partial sums; columns past the edge are dropped.
fn store(z: u32, row: u32, col: u32, v: vec4<f32>) {
    if (row >= params.rows) {
        return;
    }
    let at = (z * params.rows + row) * params.cols + col;
    for (var j = 0u; j < 4u; j++) {
        if (col + j < params.cols) {
            part[at + j] = v[j];
        }
    }
}
