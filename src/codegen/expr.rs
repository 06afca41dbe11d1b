//! Straight-line arithmetic as WGSL: the unrolled matrix products of the Winograd transforms.
//!
//! Zero terms are dropped, ±1 terms become adds and subtracts, terms sharing a coefficient
//! magnitude are summed before one multiply, and pairs of rows that differ only in the signs of
//! some terms (the ±p point pairs) share their even and odd partial sums, so `y_a = e + o`,
//! `y_b = e − o`.

use crate::lowering::{Exact, Matrix};

/// A WGSL float literal for a coefficient, at the f32 precision the shader computes in.
fn literal(v: Exact) -> String {
    format!("{:?}", v.to_f64() as f32)
}

fn negative(v: Exact) -> bool {
    v.to_f64() < 0.0
}

/// `Σ c_t · x_t` as WGSL, grouped by |c_t|: `a - b + 4.0 * (c + d) - 0.5 * e`.
fn linear_combination(terms: &[(Exact, &str)]) -> String {
    let mut groups: Vec<(Exact, Vec<(bool, &str)>)> = Vec::new();
    for &(c, x) in terms.iter().filter(|(c, _)| !c.is_zero()) {
        let mag = c.abs();
        match groups.iter_mut().find(|(m, _)| *m == mag) {
            Some((_, vars)) => vars.push((negative(c), x)),
            None => groups.push((mag, vec![(negative(c), x)])),
        }
    }
    // Unit terms first, so an expression starts with a plain variable where it can.
    groups.sort_by_key(|(m, _)| *m != Exact::ONE);
    let mut pieces: Vec<(bool, String)> = Vec::new();
    for (mag, vars) in groups {
        if mag == Exact::ONE {
            pieces.extend(vars.into_iter().map(|(neg, x)| (neg, x.to_string())));
            continue;
        }
        let flip = vars[0].0;
        let mut inner = String::new();
        for (i, (neg, x)) in vars.iter().enumerate() {
            match (i, neg ^ flip) {
                (0, _) => inner.push_str(x),
                (_, false) => inner.push_str(&format!(" + {x}")),
                (_, true) => inner.push_str(&format!(" - {x}")),
            }
        }
        let body = if vars.len() > 1 { format!("({inner})") } else { inner };
        pieces.push((flip, format!("{} * {body}", literal(mag))));
    }
    if pieces.is_empty() {
        return "0.0".into();
    }
    let mut out = String::new();
    for (i, (neg, s)) in pieces.into_iter().enumerate() {
        match (i, neg) {
            (0, false) => out.push_str(&s),
            (0, true) => out.push_str(&format!("-{s}")),
            (_, false) => out.push_str(&format!(" + {s}")),
            (_, true) => out.push_str(&format!(" - {s}")),
        }
    }
    out
}

/// Emits `let y_i = Σ_t mat[i][t] · x_t;` for every row, sharing even/odd sums between rows
/// that are sign-flipped copies of each other.
pub(crate) fn emit_matvec(mat: &Matrix, x: &[String], y: &[String], out: &mut Vec<String>) {
    let mut done = vec![false; mat.len()];
    for a in 0..mat.len() {
        if done[a] {
            continue;
        }
        let partner = (a + 1..mat.len()).find(|&b| {
            let same = |t: usize| mat[b][t] == mat[a][t];
            let flipped = |t: usize| mat[b][t] == -mat[a][t];
            let nonzero = |t: &usize| !mat[a][*t].is_zero();
            !done[b]
                && (0..x.len()).all(|t| same(t) || flipped(t))
                && (0..x.len()).filter(nonzero).any(same)
                && (0..x.len()).filter(nonzero).any(|t| !same(t))
        });
        let row = |keep: &dyn Fn(usize) -> bool| -> Vec<(Exact, &str)> {
            (0..x.len()).filter(|&t| keep(t)).map(|t| (mat[a][t], x[t].as_str())).collect()
        };
        match partner {
            Some(b) => {
                let (even, odd) = (format!("{}_e", y[a]), format!("{}_o", y[a]));
                let same = |t: usize| mat[b][t] == mat[a][t];
                out.push(format!("let {even} = {};", linear_combination(&row(&same))));
                out.push(format!("let {odd} = {};", linear_combination(&row(&|t| !same(t)))));
                out.push(format!("let {} = {even} + {odd};", y[a]));
                out.push(format!("let {} = {even} - {odd};", y[b]));
                done[b] = true;
            }
            None => out.push(format!("let {} = {};", y[a], linear_combination(&row(&|_| true)))),
        }
        done[a] = true;
    }
}

/// Emits `out = mat · in · matᵀ` for a square `in` named `{input}{i}_{j}`: a column pass into
/// `mid{i}_{j}`, then a row pass into `{output}{i}_{j}`.
pub(crate) fn emit_sandwich(mat: &Matrix, input: &str, output: &str, out: &mut Vec<String>) {
    let (rows, n) = (mat.len(), mat[0].len());
    let name = |p: &str, i: usize, j: usize| format!("{p}{i}_{j}");
    for j in 0..n {
        let x: Vec<String> = (0..n).map(|i| name(input, i, j)).collect();
        let y: Vec<String> = (0..rows).map(|i| name("mid", i, j)).collect();
        emit_matvec(mat, &x, &y, out);
    }
    for i in 0..rows {
        let x: Vec<String> = (0..n).map(|j| name("mid", i, j)).collect();
        let y: Vec<String> = (0..rows).map(|j| name(output, i, j)).collect();
        emit_matvec(mat, &x, &y, out);
    }
}

/// Calls `f(i, j)` for every element of an n×n tile, row by row.
pub(crate) fn for_each_element(n: usize, mut f: impl FnMut(usize, usize)) {
    for i in 0..n {
        for j in 0..n {
            f(i, j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lowering::Transforms;

    #[test]
    fn linear_combination_factors_and_drops() {
        let t = |v: i128| Exact::int(v);
        let s = linear_combination(&[(t(1), "a"), (t(0), "b"), (t(-4), "c"), (t(4), "d"), (t(-1), "e")]);
        assert_eq!(s, "a - e - 4.0 * (c - d)");
        assert_eq!(linear_combination(&[(t(-2), "x")]), "-2.0 * x");
        assert_eq!(linear_combination(&[(t(0), "x")]), "0.0");
    }

    #[test]
    fn pairs_share_even_and_odd_sums() {
        let t = Transforms::for_shipped_tile(2, 3);
        let mut lines = Vec::new();
        let x: Vec<String> = (0..4).map(|i| format!("x{i}")).collect();
        let y: Vec<String> = (0..4).map(|i| format!("y{i}")).collect();
        emit_matvec(&t.bt, &x, &y, &mut lines);
        assert!(lines.iter().any(|l| l.contains("y1_e + y1_o")), "{lines:#?}");
    }
}
