//! The phase decomposition of a transposed convolution along one axis, as integer arithmetic
//! with no GPU in sight (unit-tested here).
//!
//! Output index `o = i·s − p + k·d` (input `i`, kernel tap `k`, stride `s`, dilation `d`, `p`
//! the padding cropped at the start). Group the outputs by `ρ = o mod s`: output `o = q·s + ρ`
//! takes exactly the taps `k` with `(ρ + p − k·d) ≡ 0 (mod s)`, which repeat every
//! `T = s / gcd(s, d)` taps, and reads input `i = q + c_k` with `c_k = (ρ + p − k·d) / s`,
//! which falls by `D = d / gcd(s, d)` from one such tap to the next. So phase ρ is an ordinary
//! stride-1 convolution (cross-correlation) of the input with those taps in reverse order
//! (flipped), dilation D, padding `−c_last` before (the tap with the largest k comes first),
//! whose output row `q + skip` is phase output q. Residues without taps get no convolution:
//! their outputs are the bias alone.

use crate::error::{Error, Result};

/// One residue class of one axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AxisPhase {
    /// ρ: the phase's outputs are `o = q·s + ρ`.
    pub residue: usize,
    /// The original kernel taps, in the sub-kernel's order (flipped); empty when none reaches
    /// the residue.
    pub taps: Vec<usize>,
    /// The sub-convolution's dilation D.
    pub dilation: usize,
    /// The sub-convolution's padding before and after.
    pub pad: [usize; 2],
    /// The first row of the sub-convolution's output that is a phase output.
    pub skip: usize,
    /// The phase has `max(0, in + delta)` outputs for `in` inputs.
    pub delta: i64,
}

impl AxisPhase {
    /// Phase outputs for `input` input rows.
    pub fn outputs(&self, input: usize) -> usize {
        (input as i64 + self.delta).max(0) as usize
    }
    /// The sub-convolution's output rows for `input` input rows (at least `skip + outputs`
    /// whenever the phase has outputs); 0 for a residue without taps.
    #[cfg(test)]
    pub fn conv_rows(&self, input: usize) -> usize {
        if self.taps.is_empty() {
            return 0;
        }
        let span = (self.taps.len() - 1) * self.dilation + 1;
        (input + self.pad[0] + self.pad[1] + 1).saturating_sub(span)
    }
    /// Whether the sub-convolution's output is exactly the phase's outputs for every input size.
    pub fn exact(&self) -> bool {
        !self.taps.is_empty() && {
            let span = ((self.taps.len() - 1) * self.dilation + 1) as i64;
            self.skip == 0 && (self.pad[0] + self.pad[1]) as i64 + 1 - span == self.delta
        }
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// `⌈a / b⌉` for `b > 0` and any sign of `a`.
fn ceil_div(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

/// Every residue of one axis for kernel `k`, stride `s`, dilation `d`, padding `p = [before,
/// after]` cropped from the full output, and output padding `op` (the largest the calls use:
/// a smaller one only shortens the phases). Every parameter must be below 2³¹ (checked by the
/// descriptor), so the arithmetic below fits i64.
pub(crate) fn axis(k: usize, s: usize, d: usize, p: [usize; 2], op: usize) -> Result<Vec<AxisPhase>> {
    if [k, s, d, p[0], p[1], op].iter().any(|&v| v > i32::MAX as usize) || k == 0 || s == 0 || d == 0 {
        return Err(Error::InvalidDescriptor(format!(
            "kernel {k}, stride {s}, dilation {d}, padding {p:?}, output padding {op}: each must be \
             positive (padding may be 0) and below 2^31"
        )));
    }
    let (ki, si, di) = (k as i64, s as i64, d as i64);
    let (t, dd) = (s / gcd(s, d), d / gcd(s, d));
    // The full output is (in − 1)·s + e long.
    let e = -(p[0] as i64) - p[1] as i64 + di * (ki - 1) + op as i64 + 1;
    let mut out = Vec::with_capacity(s);
    for rho in 0..s {
        let first = (0..k.min(t)).find(|&kk| (rho as i64 + p[0] as i64 - kk as i64 * di).rem_euclid(si) == 0);
        let delta = ceil_div(e - rho as i64, si) - 1;
        let Some(first) = first else {
            out.push(AxisPhase { residue: rho, taps: Vec::new(), dilation: 1, pad: [0, 0], skip: 0, delta });
            continue;
        };
        let taps: Vec<usize> = (first..k).step_by(t).rev().collect();
        let last = taps[0] as i64;
        let c_last = (rho as i64 + p[0] as i64 - last * di) / si;
        let before = (-c_last).max(0);
        let skip = before + c_last;
        let span = (taps.len() as i64 - 1) * dd as i64 + 1;
        let after = (skip + delta + span - 1 - before).max(0);
        out.push(AxisPhase {
            residue: rho,
            taps,
            dilation: dd,
            pad: [before as usize, after as usize],
            skip: skip as usize,
            delta,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: every (input, tap) pair lands in exactly the phase, row and sub-kernel
    /// position the decomposition says, and each phase output row reads exactly those.
    #[test]
    fn phases_cover_every_output_once() {
        for k in 1..6 {
            for s in 1..5 {
                for d in 1..4 {
                    for p0 in 0..4 {
                        for p1 in 0..3 {
                            for op in 0..s.max(d) {
                                check(k, s, d, [p0, p1], op);
                            }
                        }
                    }
                }
            }
        }
    }

    fn check(k: usize, s: usize, d: usize, p: [usize; 2], op: usize) {
        let phases = axis(k, s, d, p, op).unwrap();
        for input in 1..7usize {
            let out = (input as i64 - 1) * s as i64 - (p[0] + p[1]) as i64 + (d * (k - 1) + op + 1) as i64;
            if out <= 0 {
                continue;
            }
            let out = out as usize;
            let total: usize = phases.iter().map(|ph| ph.outputs(input)).sum();
            assert_eq!(total, out, "k{k} s{s} d{d} p{p:?} op{op} in{input}");
            for o in 0..out {
                let ph = &phases[o % s];
                let q = o / s;
                assert!(q < ph.outputs(input));
                // Pairs (i, tap) of the definition.
                let mut want: Vec<(usize, usize)> = (0..input)
                    .flat_map(|i| (0..k).map(move |kk| (i, kk)))
                    .filter(|&(i, kk)| (i * s + kk * d) as i64 - p[0] as i64 == o as i64)
                    .collect();
                // Pairs the sub-convolution reads at its row q + skip.
                let mut got = Vec::new();
                if !ph.taps.is_empty() {
                    assert!(ph.conv_rows(input) >= ph.skip + ph.outputs(input));
                    for (j, &kk) in ph.taps.iter().enumerate() {
                        let i = (q + ph.skip + j * ph.dilation) as i64 - ph.pad[0] as i64;
                        if (0..input as i64).contains(&i) {
                            got.push((i as usize, kk));
                        }
                    }
                }
                want.sort();
                got.sort();
                assert_eq!(got, want, "k{k} s{s} d{d} p{p:?} op{op} in{input} o{o}");
            }
        }
    }

    #[test]
    fn dcgan_layers_split_into_four_2x2_phases() {
        let phases = axis(4, 2, 1, [1, 1], 0).unwrap();
        assert_eq!(phases.len(), 2);
        assert!(phases.iter().all(|p| p.taps.len() == 2 && p.skip == 0 && p.delta == 0));
        // Stride 1, padding 1, 3×3: the plain convolution with the flipped kernel.
        let one = axis(3, 1, 1, [1, 1], 0).unwrap();
        assert_eq!(one[0].taps, vec![2, 1, 0]);
        assert!(one[0].exact());
    }
}
