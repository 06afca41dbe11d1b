//! The benchmark layers, one list for `wino bench` and `benches/conv.rs`: the seed table, the
//! ResNet 3×3 layers, and every convolution of ResNet-50 v1.5 and MobileNetV2 at 224×224, the
//! latter two exactly as `torch_conv_bench.py` lists them (identical shapes merged, with counts),
//! so that network totals compare with cuDNN's layer for layer; the transposed convolutions of
//! DCGAN's generator and U-Net's decoder; and the conv1d front end of Whisper's encoder.

/// The operator a layer is timed as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerOp {
    /// A 2-D convolution (PyTorch's `Conv2d`).
    Conv2d,
    /// A transposed convolution (PyTorch's `ConvTranspose2d`, output padding 0): `c` → `k`
    /// channels, `h × w` the input it upsamples.
    ConvTranspose2d,
    /// A 1-D convolution (PyTorch's `Conv1d`) over `w` positions, `h` = 1: the `(n, c, 1, w)`
    /// image with a `1 × kernel` kernel that `Conv1d` runs.
    Conv1d,
}

/// One benchmark layer: a square convolution (or transposed convolution, or a conv1d) with
/// uniform stride and padding, dilation 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// `seed_24x24`, `resnet_64c_56x56_b32`, `resnet50_c64_56x56_k256_1x1_s1_b32`, …; the part
    /// before the first `_` names the suite.
    pub name: String,
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height (1 for a conv1d).
    pub h: usize,
    /// Input width (the length of a conv1d).
    pub w: usize,
    /// Output channels.
    pub k: usize,
    /// Kernel side (a conv1d's taps).
    pub kernel: usize,
    /// Stride (both axes; a conv1d's along its length).
    pub stride: usize,
    /// Zero padding on every side (a conv1d's at both ends).
    pub padding: usize,
    /// Channel groups (`c` for a depthwise layer).
    pub groups: usize,
    /// How often the layer occurs in its network.
    pub count: usize,
    /// Which operator it is.
    pub op: LayerOp,
}

impl Layer {
    /// The logical input shape `[n, c, h, w]` (a conv1d's as the `(n, c, 1, w)` it runs as).
    pub fn input_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.h, self.w]
    }

    /// The logical output shape `[n, k, oh, ow]` (dilation 1, output padding 0).
    pub fn output_shape(&self) -> [usize; 4] {
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        let side = |x: usize| match self.op {
            LayerOp::ConvTranspose2d => ((x - 1) * s + k).saturating_sub(2 * p),
            LayerOp::Conv2d | LayerOp::Conv1d => (x + 2 * p).saturating_sub(k) / s + 1,
        };
        let oh = if self.op == LayerOp::Conv1d { 1 } else { side(self.h) };
        [self.n, self.k, oh, side(self.w)]
    }

    /// Kernel taps per channel pair: `kernel²`, or `kernel` for a conv1d.
    pub fn taps(&self) -> usize {
        match self.op {
            LayerOp::Conv1d => self.kernel,
            LayerOp::Conv2d | LayerOp::ConvTranspose2d => self.kernel * self.kernel,
        }
    }

    /// Weight values: `k × c / groups` (a transposed layer's `c × k / groups`) times the taps.
    pub fn weight_len(&self) -> usize {
        self.c * self.k / self.groups.max(1) * self.taps()
    }

    /// Multiply-adds × 2 of one call (a transposed layer: every input element times every tap,
    /// those cropped by the padding included, as PyTorch's profiler counts them).
    pub fn flop(&self) -> f64 {
        let elements = |d: [usize; 4]| d.iter().product::<usize>() as f64;
        let g = self.groups.max(1);
        match self.op {
            LayerOp::ConvTranspose2d => {
                2.0 * (self.k / g * self.taps()) as f64 * elements(self.input_shape())
            }
            LayerOp::Conv2d | LayerOp::Conv1d => {
                2.0 * (self.c / g * self.taps()) as f64 * elements(self.output_shape())
            }
        }
    }
}

/// A set of layers to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// 16 channels, 3×3, images of 24² to 96², batch 1.
    Seed,
    /// The four ResNet 3×3 layer shapes (C = K) at batch 32 and 1.
    Resnet,
    /// Every convolution of ResNet-50 v1.5 at 224², 53 in 23 distinct shapes.
    Resnet50,
    /// Every convolution of MobileNetV2 at 224², 52 in 30 distinct shapes.
    Mobilenetv2,
    /// Seed and ResNet.
    All,
    /// DCGAN's generator: 4×4 transposed convolutions, 100 → 512 from 1×1 (stride 1), then
    /// stride 2 padding 1 up to 64 → 3 at 64².
    Dcgan,
    /// U-Net's 2×2 stride-2 up-convolutions, 1024 → 512 from 28² to 128 → 64 from 200².
    Unet,
    /// Whisper small's audio front end: conv1d 80 → 768 over 3000 frames (3 taps, padding 1),
    /// then 768 → 768 at stride 2.
    Whisper,
}

impl Suite {
    /// The layers; `batch` applies to the network suites (ResNet-50, MobileNetV2, DCGAN, U-Net,
    /// Whisper) only.
    pub fn layers(self, batch: usize) -> Vec<Layer> {
        match self {
            Suite::Seed => seed(),
            Suite::Resnet => [32, 1].into_iter().flat_map(resnet_3x3).collect(),
            Suite::Resnet50 => resnet50(batch),
            Suite::Mobilenetv2 => mobilenetv2(batch),
            Suite::All => seed().into_iter().chain(Suite::Resnet.layers(batch)).collect(),
            Suite::Dcgan => dcgan(batch),
            Suite::Unet => unet(batch),
            Suite::Whisper => whisper(batch),
        }
    }
}

/// A 3×3, stride 1, padding 1 layer.
fn three(name: String, n: usize, c: usize, side: usize, k: usize) -> Layer {
    Layer {
        name,
        n,
        c,
        h: side,
        w: side,
        k,
        kernel: 3,
        stride: 1,
        padding: 1,
        groups: 1,
        count: 1,
        op: LayerOp::Conv2d,
    }
}

fn seed() -> Vec<Layer> {
    [24, 32, 48, 64, 96].into_iter().map(|s| three(format!("seed_{s}x{s}"), 1, 16, s, 16)).collect()
}

/// The ResNet 3×3 layer shapes (C = K = 64…512 at 56²…7²) at batch `n`.
pub fn resnet_3x3(n: usize) -> Vec<Layer> {
    [(64, 56), (128, 28), (256, 14), (512, 7)]
        .into_iter()
        .map(|(c, s)| three(format!("resnet_{c}c_{s}x{s}_b{n}"), n, c, s, c))
        .collect()
}

/// `(c, side, k, kernel, stride, padding, groups)` of one convolution.
type Row = (usize, usize, usize, usize, usize, usize, usize);

/// Every convolution of ResNet-50 v1.5 (stride on the 3×3), merged into distinct shapes.
fn resnet50(n: usize) -> Vec<Layer> {
    let mut rows: Vec<Row> = vec![(3, 224, 64, 7, 2, 3, 1)];
    let (mut c, mut h) = (64, 56);
    for (width, blocks, stride) in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)] {
        for i in 0..blocks {
            let s = if i == 0 { stride } else { 1 };
            rows.push((c, h, width, 1, 1, 0, 1));
            rows.push((width, h, width, 3, s, 1, 1));
            if i == 0 {
                rows.push((c, h, width * 4, 1, s, 0, 1)); // downsample
            }
            h = (h + 2 - 3) / s + 1;
            rows.push((width, h, width * 4, 1, 1, 0, 1));
            c = width * 4;
        }
    }
    merge("resnet50", n, &rows)
}

/// Every convolution of MobileNetV2: the stem, then per inverted residual block the 1×1
/// expansion (unless t = 1), the 3×3 depthwise and the 1×1 projection, then the last 1×1.
fn mobilenetv2(n: usize) -> Vec<Layer> {
    let mut rows: Vec<Row> = vec![(3, 224, 32, 3, 2, 1, 1)];
    let (mut c, mut h) = (32, 112);
    for (t, out, reps, s) in [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ] {
        for i in 0..reps {
            let (stride, hidden) = (if i == 0 { s } else { 1 }, c * t);
            if t != 1 {
                rows.push((c, h, hidden, 1, 1, 0, 1));
            }
            rows.push((hidden, h, hidden, 3, stride, 1, hidden));
            h = (h + 2 - 3) / stride + 1;
            rows.push((hidden, h, out, 1, 1, 0, 1));
            c = out;
        }
    }
    rows.push((320, 7, 1280, 1, 1, 0, 1));
    merge("mobilenetv2", n, &rows)
}

/// A transposed layer `c → k` upsampling a `side²` input.
fn up(
    net: &str,
    n: usize,
    (c, side, k, kernel, stride, padding): (usize, usize, usize, usize, usize, usize),
) -> Layer {
    Layer {
        name: format!("{net}_c{c}_{side}x{side}_k{k}_{kernel}x{kernel}_s{stride}_t_b{n}"),
        n,
        c,
        h: side,
        w: side,
        k,
        kernel,
        stride,
        padding,
        groups: 1,
        count: 1,
        op: LayerOp::ConvTranspose2d,
    }
}

/// DCGAN's generator (Radford et al. 2015, as PyTorch's example builds it).
fn dcgan(n: usize) -> Vec<Layer> {
    [
        (100, 1, 512, 4, 1, 0),
        (512, 4, 256, 4, 2, 1),
        (256, 8, 128, 4, 2, 1),
        (128, 16, 64, 4, 2, 1),
        (64, 32, 3, 4, 2, 1),
    ]
    .into_iter()
    .map(|row| up("dcgan", n, row))
    .collect()
}

/// U-Net's up-convolutions (Ronneberger et al. 2015, unpadded: 28² → 56², …, 200² → 400²).
fn unet(n: usize) -> Vec<Layer> {
    [(1024, 28, 512, 2, 2, 0), (512, 56, 256, 2, 2, 0), (256, 104, 128, 2, 2, 0), (128, 200, 64, 2, 2, 0)]
        .into_iter()
        .map(|row| up("unet", n, row))
        .collect()
}

/// Whisper's model width d (small: 768) and input frames (30 s of 10 ms mel frames).
const WHISPER_D: usize = 768;
const WHISPER_FRAMES: usize = 3000;

/// Whisper's encoder stem (Radford et al. 2022): conv1d 80 mel channels → d, 3 taps, padding
/// 1, then d → d at stride 2 (3000 → 1500 frames), as `openai/whisper` builds it.
fn whisper(n: usize) -> Vec<Layer> {
    [(80, 1), (WHISPER_D, 2)]
        .into_iter()
        .map(|(c, stride)| Layer {
            name: format!("whisper_c{c}_l{WHISPER_FRAMES}_k{WHISPER_D}_3_s{stride}_b{n}"),
            n,
            c,
            h: 1,
            w: WHISPER_FRAMES,
            k: WHISPER_D,
            kernel: 3,
            stride,
            padding: 1,
            groups: 1,
            count: 1,
            op: LayerOp::Conv1d,
        })
        .collect()
}

/// Identical rows become one layer with their count, in order of first occurrence.
fn merge(net: &str, n: usize, rows: &[Row]) -> Vec<Layer> {
    let mut out: Vec<Layer> = Vec::new();
    for &(c, h, k, kernel, stride, padding, groups) in rows {
        let layer = Layer {
            name: format!("{net}_c{c}_{h}x{h}_k{k}_{kernel}x{kernel}_s{stride}_g{groups}_b{n}"),
            n,
            c,
            h,
            w: h,
            k,
            kernel,
            stride,
            padding,
            groups,
            count: 1,
            op: LayerOp::Conv2d,
        };
        match out.iter_mut().find(|l| l.name == layer.name) {
            Some(seen) => seen.count += 1,
            None => out.push(layer),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(n, c, h, w, k, kernel, stride, padding, groups, count)`, as torch_conv_bench.py prints.
    fn row(l: &Layer) -> [usize; 10] {
        [l.n, l.c, l.h, l.w, l.k, l.kernel, l.stride, l.padding, l.groups, l.count]
    }

    #[test]
    fn resnet50_has_53_convs_in_23_shapes() {
        let layers = Suite::Resnet50.layers(32);
        assert_eq!(layers.len(), 23);
        assert_eq!(layers.iter().map(|l| l.count).sum::<usize>(), 53);
        assert_eq!(row(&layers[0]), [32, 3, 224, 224, 64, 7, 2, 3, 1, 1]);
        assert_eq!(row(&layers[2]), [32, 64, 56, 56, 64, 3, 1, 1, 1, 3]);
        assert_eq!(row(&layers[3]), [32, 64, 56, 56, 256, 1, 1, 0, 1, 4]);
        assert_eq!(row(&layers[7]), [32, 256, 56, 56, 512, 1, 2, 0, 1, 1]);
        assert_eq!(row(&layers[16]), [32, 256, 14, 14, 256, 3, 1, 1, 1, 5]);
        assert_eq!(row(&layers[22]), [32, 512, 7, 7, 512, 3, 1, 1, 1, 2]);
    }

    #[test]
    fn mobilenetv2_has_52_convs() {
        let layers = Suite::Mobilenetv2.layers(1);
        assert_eq!(layers.len(), 30);
        assert_eq!(layers.iter().map(|l| l.count).sum::<usize>(), 52);
        assert_eq!(row(&layers[0]), [1, 3, 224, 224, 32, 3, 2, 1, 1, 1]);
        assert_eq!(row(&layers[1]), [1, 32, 112, 112, 32, 3, 1, 1, 32, 1]);
        assert_eq!(row(&layers[6]), [1, 24, 56, 56, 144, 1, 1, 0, 1, 2]);
        assert_eq!(row(&layers[17]), [1, 384, 14, 14, 384, 3, 1, 1, 384, 4]);
        assert_eq!(row(&layers[29]), [1, 320, 7, 7, 1280, 1, 1, 0, 1, 1]);
    }

    #[test]
    fn transposed_suites_upsample_by_the_stride() {
        let dcgan = Suite::Dcgan.layers(1);
        assert_eq!(dcgan.len(), 5);
        assert!(dcgan.iter().all(|l| l.op == LayerOp::ConvTranspose2d && l.kernel == 4));
        assert_eq!(row(&dcgan[4]), [1, 64, 32, 32, 3, 4, 2, 1, 1, 1]);
        // 2·(64·32²)·(3·16) multiply-adds.
        assert_eq!(dcgan[4].flop(), 2.0 * (64 * 32 * 32 * 3 * 16) as f64);
        let unet = Suite::Unet.layers(1);
        assert_eq!(row(&unet[0]), [1, 1024, 28, 28, 512, 2, 2, 0, 1, 1]);
        assert_eq!(row(&unet[3]), [1, 128, 200, 200, 64, 2, 2, 0, 1, 1]);
        assert_eq!(dcgan[0].output_shape(), [1, 512, 4, 4]);
        assert_eq!(dcgan[4].output_shape(), [1, 3, 64, 64]);
        assert_eq!(unet[3].output_shape(), [1, 64, 400, 400]);
        assert_eq!(unet[0].weight_len(), 1024 * 512 * 4);
    }

    #[test]
    fn whisper_is_two_conv1d_layers_halving_the_frames() {
        let layers = Suite::Whisper.layers(32);
        assert_eq!(layers.len(), 2);
        assert!(layers.iter().all(|l| l.op == LayerOp::Conv1d && l.h == 1 && l.kernel == 3));
        assert_eq!(row(&layers[0]), [32, 80, 1, 3000, 768, 3, 1, 1, 1, 1]);
        assert_eq!(row(&layers[1]), [32, 768, 1, 3000, 768, 3, 2, 1, 1, 1]);
        assert_eq!(layers[0].output_shape(), [32, 768, 1, 3000]);
        assert_eq!(layers[1].output_shape(), [32, 768, 1, 1500]);
        assert_eq!(layers[1].weight_len(), 768 * 768 * 3);
        // 2 · (768 · 3 taps) per output, 32 · 768 · 1500 outputs.
        assert_eq!(layers[1].flop(), 2.0 * (768 * 3) as f64 * (32 * 768 * 1500) as f64);
        assert_eq!(layers[0].name, "whisper_c80_l3000_k768_3_s1_b32");
    }

    #[test]
    fn seed_and_resnet_keep_their_shapes() {
        let all = Suite::All.layers(32);
        assert_eq!(all.len(), 5 + 8);
        assert_eq!(all[0].name, "seed_24x24");
        assert_eq!(all[0].input_shape(), [1, 16, 24, 24]);
        assert_eq!(all[5].name, "resnet_64c_56x56_b32");
        assert_eq!(all[12].input_shape(), [1, 512, 7, 7]);
        assert!(all.iter().all(|l| l.kernel == 3 && l.padding == 1 && l.c == l.k && l.count == 1));
        assert_eq!(all[0].flop(), 2.0 * 9.0 * (16 * 16 * 24 * 24) as f64);
        let strided = &Suite::Resnet50.layers(1)[0];
        assert_eq!(strided.output_shape(), [1, 64, 112, 112]);
        assert_eq!(strided.weight_len(), 64 * 3 * 49);
    }
}
