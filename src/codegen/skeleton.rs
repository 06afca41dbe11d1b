//! Filling the WGSL skeletons in `shaders/`: `{{KEY}}` placeholders, each given exactly once.
//! A placeholder alone on its line takes a block of lines, indented to the placeholder's
//! column; one inside a line takes a single-line value. Unknown keys, unfilled placeholders
//! and multi-line values inside a line are bugs in the generator and panic, which the
//! catalogue tests (every kernel is generated and validated) catch.

/// Fills `skeleton`; see the module doc for the rules.
pub(crate) fn fill(skeleton: &str, values: &[(&str, String)]) -> String {
    let mut used = vec![false; values.len()];
    let mut lookup = |key: &str| -> &str {
        let i = values
            .iter()
            .position(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("skeleton placeholder {{{{{key}}}}} has no value"));
        used[i] = true;
        &values[i].1
    };
    let mut out = String::with_capacity(skeleton.len() * 2);
    for line in skeleton.lines() {
        let trimmed = line.trim_start();
        if let Some(key) =
            trimmed.strip_prefix("{{").and_then(|k| k.strip_suffix("}}")).filter(|k| !k.contains('{'))
        {
            let indent = &line[..line.len() - trimmed.len()];
            for l in lookup(key).lines() {
                if !l.trim().is_empty() {
                    out.push_str(indent);
                    out.push_str(l);
                }
                out.push('\n');
            }
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            let end = rest[start..].find("}}").map(|e| start + e).expect("unclosed placeholder");
            let value = lookup(&rest[start + 2..end]);
            assert!(!value.contains('\n'), "a multi-line value for an inline placeholder in '{line}'");
            out.push_str(&rest[..start]);
            out.push_str(value);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    if let Some(i) = used.iter().position(|u| !u) {
        panic!("value for {{{{{}}}}}, which the skeleton does not have", values[i].0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn blocks_take_the_placeholder_column_and_inline_values_stay_inline() {
        let s = "fn f() {\n    {{BODY}}\n    return {{X}}u;\n}\n";
        let got = fill(s, &[("BODY", "let a = 1;\n\nlet b = 2;".into()), ("X", "3".into())]);
        assert_eq!(got, "fn f() {\n    let a = 1;\n\n    let b = 2;\n    return 3u;\n}\n");
    }

    #[test]
    #[should_panic(expected = "does not have")]
    fn unknown_keys_are_refused() {
        fill("a {{X}} b\n", &[("X", "1".into()), ("Y", "2".into())]);
    }

    #[test]
    #[should_panic(expected = "has no value")]
    fn missing_values_are_refused() {
        fill("a {{X}} b\n", &[]);
    }
}
