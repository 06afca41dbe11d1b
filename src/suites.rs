//! The benchmark layers, one list for `wino bench` and `benches/conv.rs`: the seed table, the
//! ResNet 3×3 layers, and every convolution of ResNet-50 v1.5 and MobileNetV2 at 224×224, the
//! latter two exactly as `torch_conv_bench.py` lists them (identical shapes merged, with counts),
//! so that network totals compare with cuDNN's layer for layer; and the transposed convolutions
//! of DCGAN's generator and U-Net's decoder.

/// One benchmark layer: a square convolution (or transposed convolution) with uniform stride
/// and padding, dilation 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// `seed_24x24`, `resnet_64c_56x56_b32`, `resnet50_c64_56x56_k256_1x1_s1_b32`, …; the part
    /// before the first `_` names the suite.
    pub name: String,
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub k: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Stride (both axes).
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
    /// Channel groups (`c` for a depthwise layer).
    pub groups: usize,
    /// How often the layer occurs in its network.
    pub count: usize,
    /// A transposed convolution (PyTorch's `ConvTranspose2d`, output padding 0): `c` → `k`
    /// channels, `h × w` the input it upsamples.
    pub transposed: bool,
}

impl Layer {
    /// The logical input shape `[n, c, h, w]`.
    pub fn input_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.h, self.w]
    }

    /// Multiply-adds × 2 of one call (a transposed layer: every input element times every tap,
    /// those cropped by the padding included, as PyTorch's profiler counts them).
    pub fn flop(&self) -> f64 {
        if self.transposed {
            let taps = (self.k / self.groups.max(1) * self.kernel * self.kernel) as f64;
            return 2.0 * taps * (self.n * self.c * self.h * self.w) as f64;
        }
        let out = |x: usize| (x + 2 * self.padding).saturating_sub(self.kernel) / self.stride + 1;
        let per_output = (self.c / self.groups.max(1) * self.kernel * self.kernel) as f64;
        2.0 * per_output * (self.n * self.k * out(self.h) * out(self.w)) as f64
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
}

impl Suite {
    /// The layers; `batch` applies to the network suites (ResNet-50, MobileNetV2) only.
    pub fn layers(self, batch: usize) -> Vec<Layer> {
        match self {
            Suite::Seed => seed(),
            Suite::Resnet => [32, 1].into_iter().flat_map(resnet_3x3).collect(),
            Suite::Resnet50 => resnet50(batch),
            Suite::Mobilenetv2 => mobilenetv2(batch),
            Suite::All => seed().into_iter().chain(Suite::Resnet.layers(batch)).collect(),
            Suite::Dcgan => dcgan(batch),
            Suite::Unet => unet(batch),
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
        transposed: false,
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
        transposed: true,
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
            transposed: false,
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
        assert!(dcgan.iter().all(|l| l.transposed && l.kernel == 4));
        assert_eq!(row(&dcgan[4]), [1, 64, 32, 32, 3, 4, 2, 1, 1, 1]);
        // 2·(64·32²)·(3·16) multiply-adds.
        assert_eq!(dcgan[4].flop(), 2.0 * (64 * 32 * 32 * 3 * 16) as f64);
        let unet = Suite::Unet.layers(1);
        assert_eq!(row(&unet[0]), [1, 1024, 28, 28, 512, 2, 2, 0, 1, 1]);
        assert_eq!(row(&unet[3]), [1, 128, 200, 200, 64, 2, 2, 0, 1, 1]);
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
    }
}
