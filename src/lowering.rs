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

use crate::desc::WINOGRAD_TILES;
use crate::error::{Error, Result};
use std::fmt;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// What the arithmetic operators of [`Rational`] and [`Exact`] panic with; their `checked_*`
/// methods return `None` instead.
const OVERFLOW: &str = "exact arithmetic overflowed i128 or divided by zero (use the checked_* methods)";

/// An exact rational number with i128 parts, always reduced, denominator positive.
///
/// The operators `+ − × ÷` and negation panic when a part would overflow i128 or on division by zero, as
/// integer arithmetic does; [`Rational::checked_add`] and its siblings return `None` instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    num: i128,
    den: i128,
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Rational {
    /// `num / den`, reduced. [`Error::InvalidShape`] for a zero denominator, or where the
    /// reduced form does not fit (`i128::MIN / −1`, or a reduced part of magnitude 2^127).
    pub fn new(num: i128, den: i128) -> Result<Self> {
        Rational::reduced(num, den).ok_or_else(|| {
            Error::InvalidShape(format!("rational {num}/{den}: zero denominator or outside i128"))
        })
    }
    /// `num / den` reduced, or `None` (zero denominator, a reduced part of magnitude 2^127).
    fn reduced(num: i128, den: i128) -> Option<Self> {
        if den == 0 {
            return None;
        }
        let g = gcd(num.unsigned_abs(), den.unsigned_abs());
        let (n, d) =
            (i128::try_from(num.unsigned_abs() / g).ok()?, i128::try_from(den.unsigned_abs() / g).ok()?);
        Some(Rational { num: if (num < 0) != (den < 0) { -n } else { n }, den: d })
    }
    /// The integer n.
    pub fn int(n: i128) -> Self {
        Rational { num: n, den: 1 }
    }
    /// `−self`, or `None` for `i128::MIN`.
    pub fn checked_neg(self) -> Option<Self> {
        Some(Rational { num: self.num.checked_neg()?, den: self.den })
    }
    /// `self + o`, or `None` where a part overflows i128.
    pub fn checked_add(self, o: Self) -> Option<Self> {
        let num = self.num.checked_mul(o.den)?.checked_add(o.num.checked_mul(self.den)?)?;
        Rational::reduced(num, self.den.checked_mul(o.den)?)
    }
    /// `self − o`, or `None` where a part overflows i128.
    pub fn checked_sub(self, o: Self) -> Option<Self> {
        self.checked_add(o.checked_neg()?)
    }
    /// `self · o`, or `None` where a part overflows i128.
    pub fn checked_mul(self, o: Self) -> Option<Self> {
        Rational::reduced(self.num.checked_mul(o.num)?, self.den.checked_mul(o.den)?)
    }
    /// `self / o`, or `None` for `o = 0` or where a part overflows i128.
    pub fn checked_div(self, o: Self) -> Option<Self> {
        Rational::reduced(self.num.checked_mul(o.den)?, self.den.checked_mul(o.num)?)
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
        self.checked_add(o).expect(OVERFLOW)
    }
}
impl Sub for Rational {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        self.checked_sub(o).expect(OVERFLOW)
    }
}
impl Neg for Rational {
    type Output = Self;
    fn neg(self) -> Self {
        self.checked_neg().expect(OVERFLOW)
    }
}
impl Mul for Rational {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        self.checked_mul(o).expect(OVERFLOW)
    }
}
impl Div for Rational {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        self.checked_div(o).expect(OVERFLOW)
    }
}

/// An exact element `a + b·√2` of the field Q(√2).
///
/// Its operators panic like [`Rational`]'s (i128 overflow, division by zero); the `checked_*`
/// methods return `None` instead.
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
    /// The rational num/den; [`Error::InvalidShape`] as for [`Rational::new`].
    pub fn ratio(num: i128, den: i128) -> Result<Self> {
        Ok(Exact { a: Rational::new(num, den)?, b: Rational::int(0) })
    }
    /// `self + o`, or `None` where a part overflows i128.
    pub fn checked_add(self, o: Self) -> Option<Self> {
        Some(Exact { a: self.a.checked_add(o.a)?, b: self.b.checked_add(o.b)? })
    }
    /// `self − o`, or `None` where a part overflows i128.
    pub fn checked_sub(self, o: Self) -> Option<Self> {
        self.checked_add(o.checked_neg()?)
    }
    /// `−self`, or `None` where a part is `i128::MIN`.
    pub fn checked_neg(self) -> Option<Self> {
        Some(Exact { a: self.a.checked_neg()?, b: self.b.checked_neg()? })
    }
    /// `self · o`, or `None` where a part overflows i128.
    pub fn checked_mul(self, o: Self) -> Option<Self> {
        let two_bb = Rational::int(2).checked_mul(self.b)?.checked_mul(o.b)?;
        Some(Exact {
            a: self.a.checked_mul(o.a)?.checked_add(two_bb)?,
            b: self.a.checked_mul(o.b)?.checked_add(self.b.checked_mul(o.a)?)?,
        })
    }
    /// `self / o`, or `None` for `o = 0` or where a part overflows i128.
    pub fn checked_div(self, o: Self) -> Option<Self> {
        // (a + b√2)⁻¹ = (a − b√2) / (a² − 2b²); the norm is non-zero for o ≠ 0 since √2 is irrational.
        let norm = o.a.checked_mul(o.a)?.checked_sub(Rational::int(2).checked_mul(o.b)?.checked_mul(o.b)?)?;
        self.checked_mul(Exact { a: o.a.checked_div(norm)?, b: o.b.checked_neg()?.checked_div(norm)? })
    }
    /// `self^e`, or `None` where a part overflows i128.
    pub fn checked_pow(self, e: usize) -> Option<Self> {
        (0..e).try_fold(Exact::ONE, |acc, _| acc.checked_mul(self))
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
    /// Absolute value (sign decided in f64, exact for every point set here); panics where a
    /// part is `i128::MIN`.
    pub fn abs(self) -> Self {
        if self.to_f64() < 0.0 {
            -self
        } else {
            self
        }
    }
    /// `self^e`; panics where a part overflows i128 (see [`Exact::checked_pow`]).
    pub fn pow(self, e: usize) -> Self {
        self.checked_pow(e).expect(OVERFLOW)
    }
}

impl Add for Exact {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        self.checked_add(o).expect(OVERFLOW)
    }
}
impl Sub for Exact {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        self.checked_sub(o).expect(OVERFLOW)
    }
}
impl Neg for Exact {
    type Output = Self;
    fn neg(self) -> Self {
        self.checked_neg().expect(OVERFLOW)
    }
}
impl Mul for Exact {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        self.checked_mul(o).expect(OVERFLOW)
    }
}
impl Div for Exact {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        self.checked_div(o).expect(OVERFLOW)
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
    /// [`Error::Unsupported`] when m or r is 0, when `points` does not hold exactly `m + r − 2`
    /// points, when two points are equal (the transforms would divide by zero), or when the
    /// exact arithmetic on these points overflows i128.
    pub fn derive(m: usize, r: usize, points: &[Exact]) -> Result<Transforms> {
        let unsupported = |why: String| Error::Unsupported(format!("Winograd F({m},{r}): {why}"));
        if m == 0 || r == 0 {
            return Err(unsupported("m and r must both be at least 1".into()));
        }
        let n = m.checked_add(r - 1).ok_or_else(|| unsupported("m + r − 1 overflows usize".into()))?;
        if points.len() != n - 1 {
            return Err(unsupported(format!("needs {} finite points, got {}", n - 1, points.len())));
        }
        for (j, p) in points.iter().enumerate() {
            if let Some(l) = points[..j].iter().position(|q| q == p) {
                return Err(unsupported(format!("points {l} and {j} are equal ({p})")));
            }
        }
        Transforms::derive_exact(m, r, points)
            .ok_or_else(|| unsupported("the exact arithmetic on these points overflows i128".into()))
    }

    /// The derivation behind [`Transforms::derive`], for m, r ≥ 1 and `m + r − 2` distinct
    /// points; `None` where a number overflows i128.
    fn derive_exact(m: usize, r: usize, points: &[Exact]) -> Option<Transforms> {
        let n = m + r - 1;
        let poly_mul_linear = |p: &[Exact], root: Exact| -> Option<Vec<Exact>> {
            // p(x)·(x − root), coefficients lowest first.
            let mut out = vec![Exact::ZERO; p.len() + 1];
            for (i, &c) in p.iter().enumerate() {
                out[i + 1] = out[i + 1].checked_add(c)?;
                out[i] = out[i].checked_sub(c.checked_mul(root)?)?;
            }
            Some(out)
        };
        let product_except = |skip: Option<usize>| -> Option<Vec<Exact>> {
            let mut acc = vec![Exact::ONE];
            for (_, &p) in points.iter().enumerate().filter(|&(l, _)| Some(l) != skip) {
                acc = poly_mul_linear(&acc, p)?;
            }
            Some(acc)
        };
        let mut bt = Vec::with_capacity(n);
        let mut g = Vec::with_capacity(n);
        for (j, &pj) in points.iter().enumerate() {
            let mut f = Exact::ONE;
            for (_, &pl) in points.iter().enumerate().filter(|&(l, _)| l != j) {
                f = f.checked_mul(pj.checked_sub(pl)?)?;
            }
            let sign = if f.to_f64() < 0.0 { -Exact::ONE } else { Exact::ONE };
            let mut row = product_except(Some(j))?;
            row.resize(n, Exact::ZERO);
            bt.push(row.into_iter().map(|c| c.checked_mul(sign)).collect::<Option<Vec<_>>>()?);
            let g_row = (0..r).map(|k| pj.checked_pow(k)?.checked_div(f)?.checked_mul(sign));
            g.push(g_row.collect::<Option<Vec<_>>>()?);
        }
        bt.push(product_except(None)?);
        g.push((0..r).map(|k| if k == r - 1 { Exact::ONE } else { Exact::ZERO }).collect());
        let mut at = Vec::with_capacity(m);
        for i in 0..m {
            let mut row = points.iter().map(|p| p.checked_pow(i)).collect::<Option<Vec<_>>>()?;
            row.push(if i == m - 1 { Exact::ONE } else { Exact::ZERO });
            at.push(row);
        }
        Some(Transforms { m, r, bt, g, at })
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
    ///
    /// [`Error::Unsupported`] when m or r is 0 or the point set has fewer than `m + r − 2`
    /// points ([`PointSet::max_points`]): F(m, r) exists for `m + r ≤ 13`.
    pub fn for_tile(m: usize, r: usize) -> Result<Transforms> {
        if m == 0 || r == 0 {
            return Err(Error::Unsupported(format!("Winograd F({m},{r}): m and r must both be at least 1")));
        }
        let set = PointSet::default_for(m, r);
        let count = m.checked_add(r).map_or(usize::MAX, |s| s - 2);
        if count > set.max_points() {
            return Err(Error::Unsupported(format!(
                "Winograd F({m},{r}) needs {count} finite points; the {set:?} point set has {}",
                set.max_points()
            )));
        }
        Transforms::derive(m, r, &set.points(count)?)
    }

    /// The transforms for a shipped tile ((m, r) ∈ [`WINOGRAD_TILES`]), for the crate's own
    /// code generators and passes, which only ever ask for those: descriptors, plans and the tune
    /// cache are checked against `WINOGRAD_TILES` before any kernel is built.
    ///
    /// It cannot fail for them: F(2,3), F(4,3), F(6,3) and F(2,5) need 3, 5, 7 and 5 points,
    /// within the 11 of each point set, and their exact arithmetic stays far inside i128
    /// (the test `every_shipped_tile_derives` in this module pins both).
    pub(crate) fn for_shipped_tile(m: usize, r: usize) -> Transforms {
        debug_assert!(WINOGRAD_TILES.contains(&(m, r)), "F({m},{r}) is not a shipped tile");
        match Transforms::for_tile(m, r) {
            Ok(t) => t,
            Err(e) => unreachable!("shipped tile F({m},{r}) failed to derive: {e}"),
        }
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
        if m.checked_add(r) == Some(7) {
            PointSet::Sqrt2
        } else {
            PointSet::Integer
        }
    }

    /// How many finite points this family has: 0 and five ± pairs.
    pub fn max_points(self) -> usize {
        11
    }

    /// The first `count` finite points of this family; [`Error::Unsupported`] for more than
    /// [`PointSet::max_points`].
    pub fn points(self, count: usize) -> Result<Vec<Exact>> {
        if count > self.max_points() {
            return Err(Error::Unsupported(format!(
                "the {self:?} point set has {} finite points, not {count}",
                self.max_points()
            )));
        }
        let half = Rational { num: 1, den: 2 };
        let rational = |q: Rational| Exact { a: q, b: Rational::int(0) };
        let magnitudes: [Exact; 5] = match self {
            PointSet::Integer => [
                Exact::int(1),
                Exact::int(2),
                rational(half),
                Exact::int(3),
                rational(Rational { num: 1, den: 3 }),
            ],
            PointSet::Sqrt2 => [
                Exact::sqrt2_times(half),
                Exact::sqrt2_times(Rational::int(1)),
                Exact::int(1),
                Exact::int(2),
                rational(half),
            ],
        };
        let mut out = vec![Exact::ZERO];
        for mag in magnitudes {
            out.push(mag);
            out.push(-mag);
        }
        out.truncate(count);
        Ok(out)
    }
}

/// The column count of `a` if every row has it (0 for no rows), else [`Error::InvalidShape`].
fn columns(what: &str, a: &Matrix) -> Result<usize> {
    let cols = a.first().map_or(0, Vec::len);
    match a.iter().position(|row| row.len() != cols) {
        Some(i) => Err(Error::InvalidShape(format!(
            "{what}: row {i} has {} entries but row 0 has {cols}",
            a[i].len()
        ))),
        None => Ok(cols),
    }
}

/// Exact matrix product. [`Error::InvalidShape`] when a matrix is ragged or `a`'s column
/// count differs from `b`'s row count; [`Error::Unsupported`] when a number overflows i128.
/// A `b` without rows has no known column count: `a · b` is then `a.len()` empty rows.
pub fn matmul(a: &Matrix, b: &Matrix) -> Result<Matrix> {
    let (inner, cols) = (b.len(), columns("matmul's right operand", b)?);
    let a_cols = if a.is_empty() { inner } else { columns("matmul's left operand", a)? };
    if a_cols != inner {
        return Err(Error::InvalidShape(format!(
            "matmul of a {}×{a_cols} by a {inner}×{cols} matrix",
            a.len()
        )));
    }
    let overflow = || Error::Unsupported("matmul: exact arithmetic overflows i128".into());
    a.iter()
        .map(|row| {
            (0..cols)
                .map(|j| {
                    row.iter()
                        .zip(b)
                        .try_fold(Exact::ZERO, |acc, (&x, b_row)| acc.checked_add(x.checked_mul(b_row[j])?))
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(overflow)
        })
        .collect()
}

/// Exact transpose; [`Error::InvalidShape`] for a ragged matrix. No rows transpose to no rows.
pub fn transpose(a: &Matrix) -> Result<Matrix> {
    let cols = columns("transpose", a)?;
    Ok((0..cols).map(|j| a.iter().map(|row| row[j]).collect()).collect())
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
        let t = Transforms::derive(4, 3, &PointSet::Integer.points(5).unwrap()).unwrap();
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
        let r = |n, d| Exact::ratio(n, d).unwrap();
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
        assert!(equal_up_to_row_scaling(&transpose(&t.at).unwrap(), &transpose(&at).unwrap()));
    }

    #[test]
    fn f23_matches_lavin_gray() {
        let t = Transforms::derive(2, 3, &PointSet::Integer.points(3).unwrap()).unwrap();
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
        let u = matmul(&matmul(&t.g, &g).unwrap(), &transpose(&t.g).unwrap()).unwrap();
        let v = matmul(&matmul(&t.bt, &d).unwrap(), &transpose(&t.bt).unwrap()).unwrap();
        let prod: Matrix =
            u.iter().zip(&v).map(|(a, b)| a.iter().zip(b).map(|(&x, &y)| x * y).collect()).collect();
        let y = matmul(&matmul(&t.at, &prod).unwrap(), &transpose(&t.at).unwrap()).unwrap();
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
                let t = Transforms::derive(m, r, &set.points(m + r - 2).unwrap()).unwrap();
                for seed in 0..8 {
                    assert_exact_2d(&t, seed);
                }
            }
        }
    }

    #[test]
    fn every_shipped_tile_derives() {
        for (m, r) in WINOGRAD_TILES {
            let t = Transforms::for_tile(m, r).unwrap();
            assert_eq!((t.m, t.r, t.alpha()), (m, r, m + r - 1));
            assert_exact_2d(&Transforms::for_shipped_tile(m, r), 0);
        }
    }

    #[test]
    fn sqrt2_field_arithmetic() {
        let s = Exact::sqrt2_times(Rational::int(1));
        assert_eq!(s * s, Exact::int(2));
        assert_eq!(Exact::ONE / s, Exact::sqrt2_times(Rational::new(1, 2).unwrap()));
        assert!((s.to_f64() - 2f64.sqrt()).abs() < 1e-15);
    }
}
