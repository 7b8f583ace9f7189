//! `normalize`: canonical forms for chosen properties, so a match on e-mail or phone
//! is not defeated by case and spacing.
//!
//! Config: one pair per property, `<property> = <op>[,<op>...]`, applied left to right.
//! Ops: `trim`, `lowercase`, `uppercase`, `digits` (keep 0-9 only), `email`
//! (trim, drop a `mailto:` prefix or `Name <...>` wrapper, lowercase, check shape).
//! Missing properties and `null` are left alone; numbers are treated as their text.

#[cfg(target_arch = "wasm32")]
mod component;

/// One normalisation step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Remove leading and trailing whitespace.
    Trim,
    /// Unicode lowercase.
    Lowercase,
    /// Unicode uppercase.
    Uppercase,
    /// Keep ASCII digits only (phone numbers, ids).
    Digits,
    /// Canonical e-mail address.
    Email,
}

/// Why a config or a value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizeError {
    /// Machine-readable code: `bad_config` or `invalid_email`.
    pub code: &'static str,
    /// One line for people.
    pub message: String,
}

impl Op {
    /// Parse one op name.
    pub fn parse(name: &str) -> Result<Op, NormalizeError> {
        match name.trim() {
            "trim" => Ok(Op::Trim),
            "lowercase" | "lower" => Ok(Op::Lowercase),
            "uppercase" | "upper" => Ok(Op::Uppercase),
            "digits" | "digits-only" => Ok(Op::Digits),
            "email" => Ok(Op::Email),
            other => Err(NormalizeError {
                code: "bad_config",
                message: format!("unknown op `{other}` (expected trim, lowercase, uppercase, digits, email)"),
            }),
        }
    }

    /// Apply this op to a text value.
    pub fn apply(self, value: &str) -> Result<String, NormalizeError> {
        Ok(match self {
            Op::Trim => value.trim().to_string(),
            Op::Lowercase => value.to_lowercase(),
            Op::Uppercase => value.to_uppercase(),
            Op::Digits => value.chars().filter(char::is_ascii_digit).collect(),
            Op::Email => canonical_email(value)?,
        })
    }
}

/// Parse the step config into `(property, ops)` rules, in order.
pub fn parse_rules(config: &[(String, String)]) -> Result<Vec<(String, Vec<Op>)>, NormalizeError> {
    if config.is_empty() {
        return Err(NormalizeError {
            code: "bad_config",
            message: "no properties chosen: add `<property>=<op>[,<op>...]`".into(),
        });
    }
    config
        .iter()
        .map(|(property, ops)| {
            let ops = ops.split(',').map(Op::parse).collect::<Result<Vec<_>, _>>()?;
            Ok((property.clone(), ops))
        })
        .collect()
}

/// Apply ops in order to one text value.
pub fn apply_all(ops: &[Op], value: &str) -> Result<String, NormalizeError> {
    ops.iter().try_fold(value.to_string(), |acc, op| op.apply(&acc))
}

fn canonical_email(value: &str) -> Result<String, NormalizeError> {
    let mut s = value.trim();
    if let (Some(open), true) = (s.rfind('<'), s.ends_with('>')) {
        s = &s[open + 1..s.len() - 1];
    }
    let s = s.trim();
    let s = s.get(..7).filter(|p| p.eq_ignore_ascii_case("mailto:")).map_or(s, |_| &s[7..]);
    let lower = s.trim().to_lowercase();
    let valid = match lower.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !lower.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(lower)
    } else {
        Err(NormalizeError { code: "invalid_email", message: format!("not an e-mail address: {value:?}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_unwrapped_and_lowercased() {
        assert_eq!(apply_all(&[Op::Email], "  Ada.Lovelace@Example.COM ").unwrap(), "ada.lovelace@example.com");
        assert_eq!(apply_all(&[Op::Email], "Ada <ADA@example.org>").unwrap(), "ada@example.org");
        assert_eq!(apply_all(&[Op::Email], "MAILTO:ada@example.org").unwrap(), "ada@example.org");
        assert_eq!(apply_all(&[Op::Email], "not an address").unwrap_err().code, "invalid_email");
    }

    #[test]
    fn phone_digits_and_chained_ops() {
        assert_eq!(apply_all(&[Op::Digits], "+1 (555) 010-9999").unwrap(), "15550109999");
        let rules = parse_rules(&[("sku".into(), "trim,upper".into())]).unwrap();
        assert_eq!(apply_all(&rules[0].1, "  ab-12 ").unwrap(), "AB-12");
        assert_eq!(parse_rules(&[("x".into(), "shout".into())]).unwrap_err().code, "bad_config");
    }
}
