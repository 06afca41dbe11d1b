//! fp32 accuracy of each tile and point set, measured with the CPU Winograd (same f32
//! arithmetic as the GPU) against the f64 direct convolution at 128 input channels.
//! Run with `--nocapture` to see the table recorded in BENCHMARKS.md.

mod common;
use wgpu_winograd::lowering::{PointSet, Transforms};
use wgpu_winograd::{reference, Conv2dDesc};

fn error(m: usize, r: usize, set: PointSet, channels: usize) -> f64 {
    let t = Transforms::derive(m, r, &set.points(m + r - 2).unwrap()).unwrap();
    let desc = Conv2dDesc::new(channels, 8, r, r / 2);
    let shape = [1, channels, 24, 24];
    let x = common::data(shape.iter().product(), 7);
    let w = common::data(desc.weight_len().unwrap(), 8);
    let want = reference::conv2d_f64(&desc, &x, shape, &w, None, None).unwrap();
    let got = reference::conv2d_winograd_f32(&desc, &t, &x, shape, &w, None, None).unwrap();
    reference::max_rel_error(&got, &want)
}

#[test]
fn default_point_sets_are_the_measured_best() {
    for (m, r) in wgpu_winograd::WINOGRAD_TILES {
        let int = error(m, r, PointSet::Integer, 128);
        let sqrt2 = error(m, r, PointSet::Sqrt2, 128);
        let default = PointSet::default_for(m, r);
        eprintln!("F({m},{r}) at 128 channels: integer points {int:.2e}, sqrt2 points {sqrt2:.2e}, default {default:?}");
        let (chosen, other) = if default == PointSet::Integer { (int, sqrt2) } else { (sqrt2, int) };
        assert!(chosen <= other * 1.05, "F({m},{r}): default {default:?} measured {chosen:e} vs {other:e}");
    }
}

#[test]
fn f43_meets_the_accuracy_goal_at_128_channels() {
    let err = error(4, 3, PointSet::default_for(4, 3), 128);
    assert!(err <= 3e-6, "F(4,3) error {err:e} at 128 channels");
}
