//! Field rules shared by commands: what a valid name, email or domain is.

use crate::error::{Error, Result};
use crate::plugin::guards::refused_domain;
use crate::store::OrgRole;

/// The longest name (org, workspace, resource) accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest email address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;
/// The most verified domains one org may have.
pub const MAX_DOMAINS: usize = 100;
/// The longest free-text note (an access request's message), in characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// A trimmed, non-empty name without control characters.
pub fn name(field: &str, value: &str) -> Result<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(trimmed.to_string())
}

/// A trimmed free-text note: line breaks allowed, other control characters not.
pub fn note(field: &str, value: &str) -> Result<String> {
    let trimmed = value.trim();
    if trimmed.chars().count() > MAX_NOTE_CHARS {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid(
            field,
            "must not contain control characters other than line breaks",
        ));
    }
    Ok(trimmed.to_string())
}

/// Normalises an email address (trim, lower-case) and checks its shape:
/// one `@`, a non-empty local part and a valid domain.
pub fn email(field: &str, value: &str) -> Result<String> {
    let email = value.trim().to_lowercase();
    if email.len() > MAX_EMAIL_BYTES {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_EMAIL_BYTES} bytes"),
        ));
    }
    let Some((local, domain_part)) = email.split_once('@') else {
        return Err(Error::invalid(
            field,
            format!("{value:?} is not an email address"),
        ));
    };
    let local_ok = !local.is_empty()
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@');
    if !local_ok || domain(field, domain_part).is_err() {
        return Err(Error::invalid(
            field,
            format!("{value:?} is not an email address"),
        ));
    }
    Ok(email)
}

/// The domain of a normalised email address.
pub fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Normalises a DNS domain name (trim, lower-case) and checks it: labels of
/// letters, digits and hyphens, at least two labels.
pub fn domain(field: &str, value: &str) -> Result<String> {
    let domain = value.trim().trim_end_matches('.').to_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if domain.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(Error::invalid(
            field,
            format!("{value:?} is not a domain name"),
        ));
    }
    Ok(domain)
}

/// Normalised, de-duplicated domains.
pub fn domains(field: &str, values: &[String]) -> Result<Vec<String>> {
    if values.len() > MAX_DOMAINS {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_DOMAINS} domains"),
        ));
    }
    let mut out = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let domain = domain(&format!("{field}[{i}]"), value)?;
        if !out.contains(&domain) {
            out.push(domain);
        }
    }
    Ok(out)
}

/// Domains an org may verify: valid ones that say something about an
/// employer (a free-mail or disposable domain would let anyone auto-join).
pub fn verifiable_domains(field: &str, values: &[String]) -> Result<Vec<String>> {
    let domains = domains(field, values)?;
    for (i, domain) in domains.iter().enumerate() {
        if let Some(what) = refused_domain(domain) {
            return Err(Error::invalid(
                format!("{field}[{i}]"),
                format!("{domain} is {what}; it cannot be an org's verified domain"),
            ));
        }
    }
    Ok(domains)
}

/// Auto-join may make a user anything but an admin: admins are chosen by
/// people, not by an email domain.
pub fn autojoin_role(field: &str, role: OrgRole) -> Result<()> {
    if role == OrgRole::Admin {
        return Err(Error::invalid(field, "auto-joined users cannot be admins"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(email("email", "  Ann@ACME.com ").unwrap(), "ann@acme.com");
        for bad in [
            "",
            "ann",
            "ann@",
            "@acme.com",
            "ann@acme",
            "a b@acme.com",
            "ann@-acme.com",
        ] {
            assert!(email("email", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", " Acme ").unwrap(), "Acme");
        assert!(name("name", "  ").is_err());
        assert!(name("name", &"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(name("name", "a\u{0}b").is_err());
    }

    #[test]
    fn domains_are_deduplicated() {
        let got = domains(
            "d",
            &["Acme.com".into(), "acme.com.".into(), "acme.io".into()],
        )
        .unwrap();
        assert_eq!(got, ["acme.com", "acme.io"]);
        assert!(domains("d", &["localhost".into()]).is_err());
    }

    #[test]
    fn free_mail_domains_cannot_be_verified() {
        let error = verifiable_domains("d", &["acme.com".into(), "Gmail.com".into()])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("d[1]: gmail.com is a free-mail domain"),
            "{error}"
        );
    }
}
