//! What a transposed convolution runs for one input shape, for callers and `wino conv`.

use crate::desc::{DType, Padding};
use crate::plan::Plan;
use std::fmt;

/// One phase: the outputs `(qy·sh + ρh, qx·sw + ρw)`, computed by a stride-1 convolution with
/// a flipped sub-kernel, or by the bias alone where no kernel tap reaches them.
#[derive(Clone, Debug, PartialEq)]
pub struct TransposePhase {
    /// `[ρh, ρw]`.
    pub residue: [usize; 2],
    /// The phase's outputs per image and channel, `[rows, columns]` (zero: skipped).
    pub outputs: [usize; 2],
    /// The sub-kernel `[kh, kw]`; `[0, 0]` where no tap reaches the phase.
    pub sub_kernel: [usize; 2],
    /// The sub-convolution's dilation.
    pub dilation: [usize; 2],
    /// The sub-convolution's padding.
    pub padding: Padding,
    /// The sub-convolution's plan (`None`: bias only, or no outputs).
    pub plan: Option<Plan>,
}

/// The plan of a transposed convolution on one input shape.
#[derive(Clone, Debug, PartialEq)]
pub struct TransposePlan {
    /// Logical input `[n, c, h, w]`.
    pub input: [usize; 4],
    /// Logical output `[n, k, oh, ow]`.
    pub output: [usize; 4],
    /// Whether the one stride-1 phase writes the output itself, epilogue included (no scratch,
    /// no interleave pass).
    pub direct: bool,
    /// Every phase, row-major over the residues.
    pub phases: Vec<TransposePhase>,
    /// Images per pass: the whole batch, or fewer where its output or a phase's scratch would
    /// exceed one binding; the batch then runs in chunks of this many images, copied through
    /// staging buffers (the phases' plans are then a chunk's).
    pub batch_chunk: usize,
}

impl TransposePlan {
    /// This plan (of a chunk) as the whole batch's: its input and output shapes, run in
    /// chunks of `images`.
    pub(crate) fn whole_batch(mut self, input: [usize; 4], images: usize) -> TransposePlan {
        self.input = input;
        self.output[0] = input[0];
        self.batch_chunk = images;
        self
    }

    /// The largest [`max_rel_error`](crate::reference::max_rel_error) a correct result may have
    /// against [`conv_transpose2d_f64`](crate::reference::conv_transpose2d_f64): the loosest of
    /// its phases' [`tolerance`](crate::reference::tolerance)s.
    pub fn tolerance(&self, dtype: DType) -> f64 {
        let base = match dtype {
            DType::F32 => 1e-4,
            DType::F16 => 1e-2,
        };
        let phases = self.phases.iter().filter_map(|p| p.plan.as_ref());
        phases.map(|p| crate::reference::tolerance(dtype, p)).fold(base, f64::max)
    }
}

impl fmt::Display for TransposePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [n, c, h, w] = self.input;
        let [_, k, oh, ow] = self.output;
        write!(f, "transposed convolution {n}×{c}×{h}×{w} → {n}×{k}×{oh}×{ow}")?;
        if self.batch_chunk < n {
            write!(
                f,
                " in chunks of {} image(s) through staging copies (the output exceeds a binding),",
                self.batch_chunk
            )?;
        }
        if self.direct {
            let plan = self.phases[0].plan.as_ref().map_or("nothing to run".to_string(), |p| p.to_string());
            return write!(f, " as one stride-1 convolution with the flipped kernel: {plan}");
        }
        let ran = self.phases.iter().filter(|p| p.outputs[0] * p.outputs[1] > 0).count();
        write!(
            f,
            " as {} phases ({ran} with outputs), each interleaved into the output:",
            self.phases.len()
        )?;
        for p in &self.phases {
            let [rh, rw] = p.residue;
            let [qh, qw] = p.outputs;
            write!(f, "\n  phase ({rh},{rw}), {qh}×{qw} outputs: ")?;
            match &p.plan {
                _ if qh * qw == 0 => write!(f, "skipped")?,
                None => write!(f, "no kernel tap reaches it: bias only")?,
                Some(plan) => {
                    let [sh, sw] = p.sub_kernel;
                    let [dh, dw] = p.dilation;
                    let pad = p.padding;
                    write!(
                        f,
                        "{sh}×{sw} sub-kernel, dilation {dh}×{dw}, padding {}/{}/{}/{}: {plan}",
                        pad.top, pad.bottom, pad.left, pad.right
                    )?
                }
            }
        }
        Ok(())
    }
}
