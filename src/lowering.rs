//! The math: Winograd/Cook–Toom transform matrices derived from interpolation points.
//!
//! For F(m, r) (m outputs of an r-tap correlation from n = m + r − 1 inputs) pick n − 1 finite
//! points p_j plus the point at infinity. With M(x) = Π (x − p_l) over the finite points and
//! f_j = Π_{l≠j} (p_j − p_l):
//!
//! * `Bᵀ[j]` holds the coefficients of M(x) / (x − p_j), and of M(x) for ∞;
//! * `G[j][k] = p_j^k / f_j` (the fractions live in G, which is applied once to the weights);
//! * `Aᵀ[i][j] = p_j^i`, with the ∞ column selecting the last output.
//!
//! Then `o = Aᵀ [(G g) ⊙ (Bᵀ d)]` is the correlation of d with g, and in 2-D
//! `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. Every number is exact: points live in Q(√2), so the
//! √2-based point sets (ncnn) are as exact as the integer ones (Lavin & Gray).

use std::fmt;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// An exact rational number with i128 parts, always reduced, denominator positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    num: i128,
    den: i128,
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Rational {
    /// `num / den`; panics on a zero denominator (a bug in the caller, never user input).
    pub fn new(num: i128, den: i128) -> Self {
        assert!(den != 0, "zero denominator");
        let g = gcd(num, den).max(1) * den.signum();
        Rational { num: num / g, den: den / g }
    }
    /// The integer n.
    pub fn int(n: i128) -> Self {
        Rational { num: n, den: 1 }
    }
    /// Whether this is 0.
    pub fn is_zero(self) -> bool {
        self.num == 0
    }
    /// Nearest f64.
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl Add for Rational {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Rational::new(self.num * o.den + o.num * self.den, self.den * o.den)
    }
}
impl Sub for Rational {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        self + (-o)
    }
}
impl Neg for Rational {
    type Output = Self;
    fn neg(self) -> Self {
        Rational { num: -self.num, den: self.den }
    }
}
impl Mul for Rational {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        Rational::new(self.num * o.num, self.den * o.den)
    }
}
impl Div for Rational {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        Rational::new(self.num * o.den, self.den * o.num)
    }
}

/// An exact element `a + b·√2` of the field Q(√2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Exact {
    /// Rational part.
    pub a: Rational,
    /// Coefficient of √2.
    pub b: Rational,
}

impl Exact {
    /// 0.
    pub const ZERO: Exact = Exact { a: Rational { num: 0, den: 1 }, b: Rational { num: 0, den: 1 } };
    /// 1.
    pub const ONE: Exact = Exact { a: Rational { num: 1, den: 1 }, b: Rational { num: 0, den: 1 } };
    /// The integer n.
    pub fn int(n: i128) -> Self {
        Exact { a: Rational::int(n), b: Rational::int(0) }
    }
    /// The rational num/den.
    pub fn ratio(num: i128, den: i128) -> Self {
        Exact { a: Rational::new(num, den), b: Rational::int(0) }
    }
    /// `q·√2`.
    pub fn sqrt2_times(q: Rational) -> Self {
        Exact { a: Rational::int(0), b: q }
    }
    /// Whether this is 0.
    pub fn is_zero(self) -> bool {
        self.a.is_zero() && self.b.is_zero()
    }
    /// Nearest f64 (√2 in f64).
    pub fn to_f64(self) -> f64 {
        self.a.to_f64() + self.b.to_f64() * std::f64::consts::SQRT_2
    }
    /// Absolute value (sign decided in f64, exact for every point set here).
    pub fn abs(self) -> Self {
        if self.to_f64() < 0.0 {
            -self
        } else {
            self
        }
    }
    /// `self^e`.
    pub fn pow(self, e: usize) -> Self {
        (0..e).fold(Exact::ONE, |acc, _| acc * self)
    }
}

impl Add for Exact {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Exact { a: self.a + o.a, b: self.b + o.b }
    }
}
impl Sub for Exact {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        self + (-o)
    }
}
impl Neg for Exact {
    type Output = Self;
    fn neg(self) -> Self {
        Exact { a: -self.a, b: -self.b }
    }
}
impl Mul for Exact {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        let two = Rational::int(2);
        Exact { a: self.a * o.a + two * self.b * o.b, b: self.a * o.b + self.b * o.a }
    }
}
impl Div for Exact {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        // (a + b√2)⁻¹ = (a − b√2) / (a² − 2b²); the norm is non-zero for o ≠ 0 since √2 is irrational.
        let norm = o.a * o.a - Rational::int(2) * o.b * o.b;
        let conj = Exact { a: o.a / norm, b: -o.b / norm };
        self * conj
    }
}

impl fmt::Display for Exact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_f64())
    }
}

/// A row-major matrix of exact numbers.
pub type Matrix = Vec<Vec<Exact>>;

/// The three transforms of one F(m, r) algorithm.
#[derive(Clone, Debug)]
pub struct Transforms {
    /// Outputs per tile side.
    pub m: usize,
    /// Filter taps per side.
    pub r: usize,
    /// `n × n` input transform.
    pub bt: Matrix,
    /// `n × r` filter transform.
    pub g: Matrix,
    /// `m × n` output transform.
    pub at: Matrix,
}

impl Transforms {
    /// Tile side in the Winograd domain, `m + r − 1`.
    pub fn alpha(&self) -> usize {
        self.m + self.r - 1
    }

    /// Derives Bᵀ, G, Aᵀ for F(m, r) from `m + r − 2` distinct finite points (∞ is implied).
    ///
    /// Rows are signed so that each `f_j` is positive, as in Lavin & Gray's tables.
    pub fn derive(m: usize, r: usize, points: &[Exact]) -> Transforms {
        let n = m + r - 1;
        assert_eq!(points.len(), n - 1, "F({m},{r}) needs {} finite points", n - 1);
        let poly_mul_linear = |p: &[Exact], root: Exact| {
            // p(x)·(x − root), coefficients lowest first.
            let mut out = vec![Exact::ZERO; p.len() + 1];
            for (i, &c) in p.iter().enumerate() {
                out[i + 1] = out[i + 1] + c;
                out[i] = out[i] - c * root;
            }
            out
        };
        let product_except = |skip: Option<usize>| {
            points
                .iter()
                .enumerate()
                .filter(|&(l, _)| Some(l) != skip)
                .fold(vec![Exact::ONE], |acc, (_, &p)| poly_mul_linear(&acc, p))
        };
        let mut bt = Vec::with_capacity(n);
        let mut g = Vec::with_capacity(n);
        for (j, &pj) in points.iter().enumerate() {
            let f = points
                .iter()
                .enumerate()
                .filter(|&(l, _)| l != j)
                .fold(Exact::ONE, |acc, (_, &pl)| acc * (pj - pl));
            let sign = if f.to_f64() < 0.0 { -Exact::ONE } else { Exact::ONE };
            let mut row = product_except(Some(j));
            row.resize(n, Exact::ZERO);
            bt.push(row.into_iter().map(|c| c * sign).collect());
            g.push((0..r).map(|k| pj.pow(k) / f * sign).collect());
        }
        bt.push(product_except(None));
        g.push((0..r).map(|k| if k == r - 1 { Exact::ONE } else { Exact::ZERO }).collect());
        let at = (0..m)
            .map(|i| {
                let mut row: Vec<Exact> = points.iter().map(|p| p.pow(i)).collect();
                row.push(if i == m - 1 { Exact::ONE } else { Exact::ZERO });
                row
            })
            .collect();
        Transforms { m, r, bt, g, at }
    }

    /// Per tile element e = (i, j), bounds on the transformed operands' magnitudes relative to
    /// their inputs': `γ_e = ‖G_i‖₁ ‖G_j‖₁` (|U_e| ≤ max|w| · γ_e) and `β_e = ‖Bᵀ_i‖₁ ‖Bᵀ_j‖₁`
    /// (|V_e| ≤ max|x| · β_e), in f32, row-major over (i, j). The tensor-core Winograd product
    /// scales each tile element's operands by the power of two of these bounds: exact, known
    /// without a pass over the transformed data, and never overflowing f16.
    pub fn operand_bounds(&self) -> (Vec<f32>, Vec<f32>) {
        let norms = |m: &Matrix| -> Vec<f64> {
            m.iter().map(|row| row.iter().map(|v| v.to_f64().abs()).sum()).collect()
        };
        let outer = |v: Vec<f64>| -> Vec<f32> {
            v.iter().flat_map(|&a| v.iter().map(move |&b| (a * b) as f32)).collect()
        };
        (outer(norms(&self.g)), outer(norms(&self.bt)))
    }

    /// The transforms for F(m, r) with this library's default points (see [`PointSet::default_for`]).
    pub fn for_tile(m: usize, r: usize) -> Transforms {
        Transforms::derive(m, r, &PointSet::default_for(m, r).points(m + r - 2))
    }
}

/// A named family of interpolation points. Each yields as many finite points as a tile needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointSet {
    /// 0, ±1, ±2, ±1/2, ±3, … — Lavin & Gray, tinygrad, MLX.
    Integer,
    /// 0, ±√2/2, ±√2, ±1, ±2, … — ncnn's choice for F(4,3); smaller fp32 error.
    Sqrt2,
}

impl PointSet {
    /// The default for F(m, r), chosen by measured fp32 error (see `BENCHMARKS.md`):
    /// Sqrt2 where it has five finite points (F(4,3), F(2,5)); Integer for F(2,3) (where the
    /// sets agree) and F(6,3), where MLX's {0, ±1, ±2, ±1/2} measured lower.
    pub fn default_for(m: usize, r: usize) -> PointSet {
        if m + r - 2 == 5 {
            PointSet::Sqrt2
        } else {
            PointSet::Integer
        }
    }

    /// The first `count` finite points of this family.
    pub fn points(self, count: usize) -> Vec<Exact> {
        let half_sqrt2 = Exact::sqrt2_times(Rational::new(1, 2));
        let sqrt2 = Exact::sqrt2_times(Rational::int(1));
        let magnitudes: Vec<Exact> = match self {
            PointSet::Integer => {
                vec![Exact::int(1), Exact::int(2), Exact::ratio(1, 2), Exact::int(3), Exact::ratio(1, 3)]
            }
            PointSet::Sqrt2 => vec![half_sqrt2, sqrt2, Exact::int(1), Exact::int(2), Exact::ratio(1, 2)],
        };
        let mut out = vec![Exact::ZERO];
        for mag in magnitudes {
            out.push(mag);
            out.push(-mag);
        }
        out.truncate(count);
        assert_eq!(out.len(), count, "point set too small for this tile");
        out
    }
}

/// Exact matrix product.
pub fn matmul(a: &Matrix, b: &Matrix) -> Matrix {
    let inner = b.len();
    (0..a.len())
        .map(|i| {
            (0..b[0].len()).map(|j| (0..inner).fold(Exact::ZERO, |acc, k| acc + a[i][k] * b[k][j])).collect()
        })
        .collect()
}

/// Exact transpose.
pub fn transpose(a: &Matrix) -> Matrix {
    (0..a[0].len()).map(|j| a.iter().map(|row| row[j]).collect()).collect()
}

/// A matrix rounded to f32, the precision the shaders use.
pub fn to_f32(a: &Matrix) -> Vec<Vec<f32>> {
    a.iter().map(|row| row.iter().map(|x| x.to_f64() as f32).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(rows: &[&[i128]]) -> Matrix {
        rows.iter().map(|r| r.iter().map(|&x| Exact::int(x)).collect()).collect()
    }

    /// Each row of `a` equals the matching row of `b` times a non-zero scalar.
    fn equal_up_to_row_scaling(a: &Matrix, b: &Matrix) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(ra, rb)| {
                let pivot = ra.iter().position(|x| !x.is_zero()).unwrap();
                if rb[pivot].is_zero() {
                    return false;
                }
                let s = ra[pivot] / rb[pivot];
                ra.iter().zip(rb).all(|(&x, &y)| x == y * s)
            })
    }

    #[test]
    fn f43_integer_points_match_lavin_gray() {
        let t = Transforms::derive(4, 3, &PointSet::Integer.points(5));
        let bt = ints(&[
            &[4, 0, -5, 0, 1, 0],
            &[0, -4, -4, 1, 1, 0],
            &[0, 4, -4, -1, 1, 0],
            &[0, -2, -1, 2, 1, 0],
            &[0, 2, -1, -2, 1, 0],
            &[0, 4, 0, -5, 0, 1],
        ]);
        let at =
            ints(&[&[1, 1, 1, 1, 1, 0], &[0, 1, -1, 2, -2, 0], &[0, 1, 1, 4, 4, 0], &[0, 1, -1, 8, -8, 1]]);
        let r = |n, d| Exact::ratio(n, d);
        let g = vec![
            vec![r(1, 4), r(0, 1), r(0, 1)],
            vec![r(-1, 6), r(-1, 6), r(-1, 6)],
            vec![r(-1, 6), r(1, 6), r(-1, 6)],
            vec![r(1, 24), r(1, 12), r(1, 6)],
            vec![r(1, 24), r(-1, 12), r(1, 6)],
            vec![r(0, 1), r(0, 1), r(1, 1)],
        ];
        assert!(equal_up_to_row_scaling(&t.bt, &bt), "Bt {:?}", t.bt);
        assert!(equal_up_to_row_scaling(&t.g, &g), "G {:?}", t.g);
        assert!(equal_up_to_row_scaling(&transpose(&t.at), &transpose(&at)));
    }

    #[test]
    fn f23_matches_lavin_gray() {
        let t = Transforms::derive(2, 3, &PointSet::Integer.points(3));
        let bt = ints(&[&[1, 0, -1, 0], &[0, 1, 1, 0], &[0, -1, 1, 0], &[0, 1, 0, -1]]);
        assert!(equal_up_to_row_scaling(&t.bt, &bt));
    }

    /// A tiny deterministic generator so the test needs no dependency.
    fn lcg(state: &mut u64) -> i128 {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*state >> 33) % 19) as i128 - 9
    }

    fn assert_exact_2d(t: &Transforms, seed: u64) {
        let (m, r, n) = (t.m, t.r, t.alpha());
        let mut s = seed;
        let d: Matrix = (0..n).map(|_| (0..n).map(|_| Exact::int(lcg(&mut s))).collect()).collect();
        let g: Matrix = (0..r).map(|_| (0..r).map(|_| Exact::int(lcg(&mut s))).collect()).collect();
        let u = matmul(&matmul(&t.g, &g), &transpose(&t.g));
        let v = matmul(&matmul(&t.bt, &d), &transpose(&t.bt));
        let prod: Matrix =
            u.iter().zip(&v).map(|(a, b)| a.iter().zip(b).map(|(&x, &y)| x * y).collect()).collect();
        let y = matmul(&matmul(&t.at, &prod), &transpose(&t.at));
        for i in 0..m {
            for j in 0..m {
                let direct = (0..r)
                    .flat_map(|a| (0..r).map(move |b| (a, b)))
                    .fold(Exact::ZERO, |acc, (a, b)| acc + g[a][b] * d[i + a][j + b]);
                assert_eq!(y[i][j], direct, "F({m},{r}) output ({i},{j})");
            }
        }
    }

    #[test]
    fn two_d_winograd_is_exact_for_every_tile_and_point_set() {
        for (m, r) in [(2, 3), (4, 3), (6, 3), (2, 5)] {
            for set in [PointSet::Integer, PointSet::Sqrt2] {
                let t = Transforms::derive(m, r, &set.points(m + r - 2));
                for seed in 0..8 {
                    assert_exact_2d(&t, seed);
                }
            }
        }
    }

    #[test]
    fn sqrt2_field_arithmetic() {
        let s = Exact::sqrt2_times(Rational::int(1));
        assert_eq!(s * s, Exact::int(2));
        assert_eq!(Exact::ONE / s, Exact::sqrt2_times(Rational::new(1, 2)));
        assert!((s.to_f64() - 2f64.sqrt()).abs() < 1e-15);
    }
}
