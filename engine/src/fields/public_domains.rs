//! Email domains that say nothing about an employer: an address there
//! never auto-joins an org, and such a domain is never claimed.

/// Free-mail providers: anyone can get an address there, so the domain says
/// nothing about an employer and never auto-joins an org.
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "web.de",
    "mail.com",
    "zoho.com",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    "qq.com",
    "163.com",
    "126.com",
    "fastmail.com",
    "tutanota.com",
    "hey.com",
];

/// Disposable-address services: same reason, and worse.
pub const DISPOSABLE_DOMAINS: &[&str] = &[
    "mailinator.com",
    "guerrillamail.com",
    "sharklasers.com",
    "10minutemail.com",
    "temp-mail.org",
    "tempmail.com",
    "yopmail.com",
    "trashmail.com",
    "getnada.com",
    "dispostable.com",
    "maildrop.cc",
    "throwawaymail.com",
];

/// Why a signup from `domain` never auto-joins, if it never does.
pub fn refused_domain(domain: &str) -> Option<&'static str> {
    if FREE_MAIL_DOMAINS.contains(&domain) {
        Some("a free-mail domain")
    } else if DISPOSABLE_DOMAINS.contains(&domain) {
        Some("a disposable-address domain")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_refused_by_exact_name() {
        assert_eq!(refused_domain("gmail.com"), Some("a free-mail domain"));
        assert_eq!(
            refused_domain("yopmail.com"),
            Some("a disposable-address domain")
        );
        assert_eq!(refused_domain("gmail.acme.com"), None);
    }
}
