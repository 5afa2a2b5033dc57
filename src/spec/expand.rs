//! The kubelet's `$(VAR)` expansion of an exec probe's command
//! (`ExpandContainerCommandOnlyStatic`, with Kubernetes'
//! `third_party/forked/golang/expansion`): `$(NAME)` is the value of `NAME`
//! in the container's `env`, `$$` is `$`, and anything else stays as written
//! (an unknown name, an unclosed `$(`, a `$` before another character).

/// The static `env` of a container: `(name, value)`, in order; an entry
/// with `valueFrom` has the value `""`, as the kubelet reads it.
pub type StaticEnv = [(String, String)];

/// `input` with its references expanded from `env` (a later entry of the
/// same name wins, as in the kubelet's map).
pub fn expand(input: &str, env: &StaticEnv) -> String {
    let lookup = |name: &str| env.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v);
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if after.is_empty() {
            // A `$` at the very end is kept.
            out.push('$');
            rest = after;
            break;
        }
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(') {
            match tail.find(')') {
                Some(close) => {
                    let name = &tail[..close];
                    match lookup(name) {
                        Some(value) => out.push_str(value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &tail[close + 1..];
                }
                None => {
                    // Incomplete: `$(` kept, the scan goes on after it.
                    out.push_str("$(");
                    rest = tail;
                }
            }
        } else {
            // `$` and the next character, as written.
            let c = after.chars().next().unwrap_or_default();
            out.push('$');
            out.push(c);
            rest = &after[c.len_utf8()..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// `pkg/kubelet/prober/prober_test.go` `TestNewExecInContainer`-style
    /// and `expand_test.go` cases.
    #[test]
    fn references_expand_from_the_static_env_the_rest_stays_as_written() {
        let e = env(&[
            ("A", "script"),
            ("VAR_A", "A"),
            ("EMPTY", ""),
            ("A", "script"),
        ]);
        let cases = [
            ("some $(A) $(B)", "some script $(B)"),
            ("$(VAR_A)", "A"),
            ("___$(VAR_A)___", "___A___"),
            ("$(EMPTY)", ""),
            ("$$(VAR_A)", "$(VAR_A)"),
            ("$$$(VAR_A)", "$A"),
            ("$$$$(VAR_A)", "$$(VAR_A)"),
            ("$$", "$"),
            ("$", "$"),
            ("$(", "$("),
            ("$(VAR_A", "$(VAR_A"),
            ("$(VAR_A$(A)", "$(VAR_A$(A)"),
            ("$VAR_A", "$VAR_A"),
            ("${VAR_A}", "${VAR_A}"),
            ("$()", "$()"),
            ("sh -c \"echo $$PORT\"", "sh -c \"echo $PORT\""),
            ("é$é$(A)", "é$éscript"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, &e), want, "{input}");
        }
    }

    #[test]
    fn a_later_entry_of_the_same_name_wins() {
        let e = env(&[("A", "1"), ("A", "2")]);
        assert_eq!(expand("$(A)", &e), "2");
    }

    #[test]
    fn with_an_empty_env_only_double_dollars_change() {
        assert_eq!(expand("a $(B) $$ $c", &[]), "a $(B) $ $c");
    }
}
