//! Field rules shared by commands: what a valid name, email or domain is.

mod public_domains;

pub use public_domains::{refused_domain, DISPOSABLE_DOMAINS, FREE_MAIL_DOMAINS};

use crate::error::{Error, Result};
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

/// The longest input taken for an email address or a domain before it is
/// normalised (a Unicode domain's UTF-8 can be longer than its punycode).
pub const MAX_ADDRESS_INPUT_BYTES: usize = 4 * MAX_EMAIL_BYTES;
/// The longest domain name (RFC 1035), in its ASCII (punycode) form.
pub const MAX_DOMAIN_BYTES: usize = 253;
/// The longest label of a domain name (RFC 1035).
pub const MAX_LABEL_BYTES: usize = 63;

/// Normalises an email address once, for every path that takes one: trim,
/// lower-case, and the domain as [`domain`] normalises it (`Ann@ACME.com.`
/// and `ann@acme.com` are one address). Refuses invisible and bidi control
/// characters and local parts that mix scripts (look-alikes of another
/// address), saying which.
pub fn email(field: &str, value: &str) -> Result<String> {
    let trimmed = value.trim();
    bounded_input(field, trimmed)?;
    refuse_invisible(field, trimmed)?;
    let not_an_email = || Error::invalid(field, format!("{value:?} is not an email address"));
    let (local, domain_part) = trimmed.rsplit_once('@').ok_or_else(not_an_email)?;
    let local_ok = !local.is_empty()
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@');
    if !local_ok {
        return Err(not_an_email());
    }
    let local = local.to_lowercase();
    single_script(field, &local)?;
    let email = format!("{local}@{}", domain(field, domain_part)?);
    if email.len() > MAX_EMAIL_BYTES {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_EMAIL_BYTES} bytes"),
        ));
    }
    Ok(email)
}

/// The domain of a normalised email address.
pub fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Normalises a DNS domain name once: trim, drop one trailing dot (the
/// root), IDNA to ASCII (lower-case, punycode: `bücher.de` is stored as
/// `xn--bcher-kva.de`). Refuses invisible and bidi control characters and
/// labels that mix scripts (`аcme` with a Cyrillic `а`), saying which;
/// then checks the ASCII form: at least two labels of letters, digits and
/// hyphens.
pub fn domain(field: &str, value: &str) -> Result<String> {
    let trimmed = value.trim();
    bounded_input(field, trimmed)?;
    refuse_invisible(field, trimmed)?;
    let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
    let not_a_domain = || Error::invalid(field, format!("{value:?} is not a domain name"));
    // The Unicode form decodes punycode labels, so look-alikes spelled as
    // `xn--…` are caught too.
    let (unicode, decoded) = idna::domain_to_unicode(name);
    decoded.map_err(|_| not_a_domain())?;
    refuse_invisible(field, &unicode)?;
    for label in unicode.split('.') {
        single_script(field, label)?;
    }
    let ascii = idna::domain_to_ascii_strict(name).map_err(|_| not_a_domain())?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= MAX_LABEL_BYTES
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if ascii.len() > MAX_DOMAIN_BYTES || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(not_a_domain());
    }
    Ok(ascii)
}

/// Refuses input too long to be an address before any work on it.
fn bounded_input(field: &str, value: &str) -> Result<()> {
    if value.len() > MAX_ADDRESS_INPUT_BYTES {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_ADDRESS_INPUT_BYTES} bytes (MAX_ADDRESS_INPUT_BYTES)"),
        ));
    }
    Ok(())
}

/// Bidirectional controls: they make text display in another order than it
/// is stored (`U+202E` shows `moc.emca` as `acme.com`).
const BIDI_CONTROLS: &[(char, char)] = &[
    ('\u{061C}', '\u{061C}'),
    ('\u{200E}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2066}', '\u{2069}'),
];

/// Characters that display as nothing: Unicode's format characters
/// (category Cf) and the other invisible fillers and selectors. An
/// address holding one looks like another address.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200D}'),
    ('\u{2060}', '\u{2065}'),
    ('\u{206A}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
    ('\u{E0100}', '\u{E01EF}'),
];

/// What kind of hidden character `c` is, if it is one.
fn hidden_character(c: char) -> Option<&'static str> {
    let within = |ranges: &[(char, char)]| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c));
    if within(BIDI_CONTROLS) {
        Some("a bidirectional control character")
    } else if within(INVISIBLE) {
        Some("an invisible character")
    } else if c.is_control() {
        Some("a control character")
    } else {
        None
    }
}

/// Refuses a value holding a character that displays as nothing or
/// reorders the text around it, naming the first one.
fn refuse_invisible(field: &str, value: &str) -> Result<()> {
    match value
        .chars()
        .find_map(|c| hidden_character(c).map(|what| (c, what)))
    {
        Some((c, what)) => Err(Error::invalid(
            field,
            format!(
                "contains U+{:04X}, {what}: it makes the address look like another one",
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses a label (or an email's local part) whose letters come from more
/// than one script (UTS 39 mixed-script detection: Japanese kana with Han
/// is one script), naming them: `аcme` with a Cyrillic `а` looks like
/// `acme`.
fn single_script(field: &str, label: &str) -> Result<()> {
    use unicode_script::{Script, UnicodeScript};
    use unicode_security::MixedScript;
    if label.is_single_script() {
        return Ok(());
    }
    let mut scripts: Vec<&str> = Vec::new();
    for script in label.chars().map(|c| c.script()) {
        let name = script.full_name();
        if !matches!(script, Script::Common | Script::Inherited) && !scripts.contains(&name) {
            scripts.push(name);
        }
    }
    Err(Error::invalid(
        field,
        format!(
            "{label:?} mixes {} letters: a look-alike of another name is refused",
            scripts.join(" and ")
        ),
    ))
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
        verifiable(&format!("{field}[{i}]"), domain)?;
    }
    Ok(domains)
}

/// One domain an org may claim and verify, normalised.
pub fn verifiable_domain(field: &str, value: &str) -> Result<String> {
    let domain = domain(field, value)?;
    verifiable(field, &domain)?;
    Ok(domain)
}

/// Refuses a (normalised) domain that says nothing about an employer.
fn verifiable(field: &str, domain: &str) -> Result<()> {
    match refused_domain(domain) {
        Some(what) => Err(Error::invalid(
            field,
            format!("{domain} is {what}; it cannot be an org's verified domain"),
        )),
        None => Ok(()),
    }
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
    fn one_address_has_one_spelling() {
        for spelling in [
            "ann@acme.com",
            "Ann@ACME.com.",
            " ann@acme.com. ",
            "ANN@Acme.Com",
        ] {
            assert_eq!(email("email", spelling).unwrap(), "ann@acme.com");
        }
        assert_eq!(domain("d", "Bücher.DE.").unwrap(), "xn--bcher-kva.de");
        assert_eq!(domain("d", "xn--bcher-kva.de").unwrap(), "xn--bcher-kva.de");
        assert_eq!(
            email("email", "jörg@Bücher.de").unwrap(),
            "jörg@xn--bcher-kva.de"
        );
        assert!(domain("d", "acme.com..").is_err());
    }

    #[test]
    fn look_alike_addresses_are_refused_with_the_reason() {
        let refused = [
            ("ann@acme\u{200B}.com", "U+200B, an invisible character"),
            ("ann\u{200D}@acme.com", "U+200D, an invisible character"),
            ("\u{FEFF}ann@acme.com", "U+FEFF, an invisible character"),
            ("ann@acme.c\u{00AD}om", "U+00AD, an invisible character"),
            ("ann@\u{202E}moc.emca", "U+202E, a bidirectional control"),
            ("ann@acme\u{2066}.com", "U+2066, a bidirectional control"),
            ("ann@\u{0430}cme.com", "mixes Cyrillic and Latin"),
            ("\u{0430}nn@acme.com", "mixes Cyrillic and Latin"),
            ("ann@xn--cme-5cd.com", "mixes Cyrillic and Latin"),
            ("ann@\u{03BF}racle.com", "mixes Greek and Latin"),
        ];
        for (address, reason) in refused {
            let error = email("email", address).unwrap_err().to_string();
            assert!(error.contains(reason), "{address:?}: {error}");
            assert!(error.starts_with("email: "), "{error}");
        }
        // One script per label is fine, whatever the script.
        assert!(domain("d", "пример.рф").is_ok());
        assert!(domain("d", "例え.テスト").is_ok());
    }

    proptest::proptest! {
        /// Normalising is idempotent: a stored address normalises to itself.
        #[test]
        fn normalised_addresses_are_fixed_points(address in "\\PC{0,40}") {
            if let Ok(normalised) = email("email", &address) {
                proptest::prop_assert_eq!(email("email", &normalised).unwrap(), normalised.clone());
                proptest::prop_assert!(normalised.chars().all(|c| hidden_character(c).is_none()));
            }
        }

        /// Inserting an invisible character anywhere never yields an address.
        #[test]
        fn hidden_characters_are_always_refused(
            at in 0usize..12,
            hidden in proptest::sample::select(vec!['\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{202E}', '\u{2066}', '\u{FEFF}', '\u{00AD}', '\u{180E}']),
        ) {
            let mut address: Vec<char> = "ann@acme.com".chars().collect();
            address.insert(at.min(address.len()), hidden);
            let address: String = address.into_iter().collect();
            proptest::prop_assert!(email("email", &address).is_err(), "{:?} accepted", address);
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
