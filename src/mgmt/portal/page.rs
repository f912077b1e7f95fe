//! The page's HTML: server-rendered, no script, no external resource (inline CSS only, which
//! the Content-Security-Policy allows and nothing else). Every value from the database or the
//! request goes through [`esc`].

use std::fmt::Write as _;

use vpndb::{GwType, StoredProfile, VpnSession, VpnShare};

use super::guard::Flash;

/// The `Content-Security-Policy` of every portal page: no script at all, inline style, forms
/// posting to this origin only, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian; H. Hinnant's
/// days-to-civil algorithm).
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

const STYLE: &str = "body{font-family:sans-serif;margin:0;background:#f4f6f8;color:#1b1f23}\
header{background:#17324d;color:#fff;padding:.8em 1.2em;display:flex;align-items:center;gap:1em}\
header h1{font-size:1.2em;margin:0;flex:1}main{padding:1em 1.2em;max-width:60em}\
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.8em 1em;margin:0 0 1em}\
h2{font-size:1.1em;margin:.2em 0 .4em}h3{font-size:1em;margin:.8em 0 .3em}\
table{border-collapse:collapse;margin:.3em 0}td,th{border-bottom:1px solid #e1e4e8;padding:.25em .7em;text-align:left}\
.flash{padding:.6em 1em;border-radius:6px;margin:0 0 1em}.ok{background:#dafbe1;border:1px solid #4ac26b}\
.err{background:#ffebe9;border:1px solid #ff8182}.pending{color:#9a6700}.muted{color:#57606a}\
form.inline{display:inline}input[type=text],input[type=password],select{padding:.25em;margin:0 .3em .3em 0}\
button{padding:.25em .8em}label{margin-right:.3em}";

/// A whole page.
pub fn layout(title: &str, header_right: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head>\n<body><header><h1>{t}</h1>{header_right}</header>\
         <main>{body}</main></body></html>\n",
        t = esc(title)
    )
}

fn flash_html(f: Option<&Flash>) -> String {
    match f {
        Some(Flash::Ok(m)) => format!(
            "<p class=\"flash ok\" id=\"flash\" role=\"status\">{}</p>",
            esc(m)
        ),
        Some(Flash::Err(m)) => format!(
            "<p class=\"flash err\" id=\"flash\" role=\"alert\">{}</p>",
            esc(m)
        ),
        None => String::new(),
    }
}

/// The login page; `error` above the form.
pub fn login(csrf: &str, nai: &str, error: Option<&str>) -> String {
    let err = error
        .map(|e| {
            format!(
                "<p class=\"flash err\" id=\"flash\" role=\"alert\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "{err}<section><h2>Log in</h2>\
         <p class=\"muted\">Change the destinations of your mobile VPN. Log in with your NAI \
         (user@realm) and your password.</p>\
         <form method=\"post\" action=\"/portal/login\" id=\"login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label for=\"nai\">NAI</label><input type=\"text\" id=\"nai\" name=\"nai\" value=\"{nai}\" \
         autocomplete=\"username\" required maxlength=\"253\"></p>\
         <p><label for=\"password\">Password</label><input type=\"password\" id=\"password\" \
         name=\"password\" autocomplete=\"current-password\" required maxlength=\"1024\"></p>\
         <p><button type=\"submit\" id=\"login-button\">Log in</button></p></form></section>",
        csrf = esc(csrf),
        nai = esc(nai),
    );
    layout("Mobile VPN — your destinations", "", &body)
}

/// A short page with a message (errors: 403, 404, 429, 503).
pub fn message(title: &str, text: &str, link: Option<(&str, &str)>) -> String {
    let link = link
        .map(|(href, label)| format!("<p><a href=\"{}\">{}</a></p>", esc(href), esc(label)))
        .unwrap_or_default();
    layout(
        title,
        "",
        &format!(
            "<section><p id=\"message\">{}</p>{link}</section>",
            esc(text)
        ),
    )
}

fn logout_form(nai: &str, csrf: &str) -> String {
    format!(
        "<span id=\"who\">{}</span><form class=\"inline\" method=\"post\" action=\"/portal/logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\" id=\"logout\">Log out</button></form>",
        esc(nai),
        esc(csrf)
    )
}

/// The user's page: every profile (or one, on `/portal/profiles/{n}`), with its destinations,
/// the forms that change them, and its current tunnels.
pub fn profiles(
    nai: &str,
    csrf: &str,
    flash: &Option<(u32, Flash)>,
    ps: &[StoredProfile],
    tunnels: &[VpnSession],
    single: bool,
) -> String {
    let mut b = String::new();
    // A message about a profile not shown here (removed meanwhile): at the top.
    if let Some((n, f)) = flash {
        if !ps.iter().any(|p| p.profile.profile_number == *n) {
            b.push_str(&flash_html(Some(f)));
        }
    }
    if ps.is_empty() {
        b.push_str(
            "<section><p id=\"no-profiles\">You have no VPN profile yet. Your provider sets \
             it up when you sign a VPN contract.</p></section>",
        );
    }
    if single {
        b.push_str("<p><a href=\"/portal/\">All your VPNs</a></p>");
    }
    for p in ps {
        let f = flash
            .as_ref()
            .filter(|(n, _)| *n == p.profile.profile_number)
            .map(|(_, f)| f);
        profile(&mut b, p, csrf, tunnels, f);
    }
    layout(
        "Mobile VPN — your destinations",
        &logout_form(nai, csrf),
        &b,
    )
}

fn profile(
    b: &mut String,
    sp: &StoredProfile,
    csrf: &str,
    tunnels: &[VpnSession],
    flash: Option<&Flash>,
) {
    let p = &sp.profile;
    let n = p.profile_number;
    let csrf = esc(csrf);
    let share = match p.vpnshare {
        VpnShare::Shared => "the gateways' shared security association",
        VpnShare::Own => "your own security association",
    };
    let _ = write!(
        b,
        "<section class=\"profile\" id=\"profile-{n}\" data-profile=\"{n}\">\
         <h2><a href=\"/portal/profiles/{n}\">VPN profile {n}</a></h2>{flash}\
         <p>Contract (SLA) <b>{sla}</b>, {share}. Version <span class=\"version\">{v}</span>, changed {at}.</p>",
        flash = flash_html(flash),
        sla = esc(&p.sla),
        v = sp.version,
        at = utc(sp.changed_at),
    );
    if sp.service_update {
        b.push_str(
            "<p class=\"pending\" id=\"pending-service-update\">Changed since your last registration: \
             your next registration (service update) applies it.</p>",
        );
    }
    let _ = write!(
        b,
        "<h3>Destinations</h3><table class=\"destinations\"><thead><tr><th>Destination</th>\
         <th>Address</th><th>Mask</th><th></th></tr></thead><tbody>"
    );
    for d in &p.destinations {
        let ds = esc(&d.to_string());
        let _ = write!(
            b,
            "<tr><td class=\"dest\">{ds}</td><td>{a}</td><td>{m}</td><td>\
             <form class=\"inline\" method=\"post\" action=\"/portal/profiles/{n}/remove\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <input type=\"hidden\" name=\"dest\" value=\"{ds}\">\
             <button type=\"submit\" class=\"remove\" title=\"Remove {ds}\">Remove</button></form></td></tr>",
            a = d.addr(),
            m = d.mask(),
        );
    }
    b.push_str("</tbody></table>");
    let _ = write!(
        b,
        "<h3>Add a destination</h3>\
         <form method=\"post\" action=\"/portal/profiles/{n}/add\" class=\"add\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"add-addr-{n}\">Address</label><input type=\"text\" id=\"add-addr-{n}\" name=\"addr\" \
         placeholder=\"10.30.0.0\" maxlength=\"64\" required>\
         <label for=\"add-mask-{n}\">Mask</label><input type=\"text\" id=\"add-mask-{n}\" name=\"mask\" \
         placeholder=\"255.255.0.0 or 16\" maxlength=\"64\">\
         <button type=\"submit\" id=\"add-{n}\">Add</button></form>"
    );
    if !p.destinations.is_empty() {
        let _ = write!(
            b,
            "<h3>Replace a destination</h3>\
             <form method=\"post\" action=\"/portal/profiles/{n}/replace\" class=\"replace\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label for=\"old-{n}\">Replace</label><select id=\"old-{n}\" name=\"old\">"
        );
        for d in &p.destinations {
            let ds = esc(&d.to_string());
            let _ = write!(b, "<option value=\"{ds}\">{ds}</option>");
        }
        let _ = write!(
            b,
            "</select><label for=\"new-addr-{n}\">by address</label><input type=\"text\" \
             id=\"new-addr-{n}\" name=\"addr\" maxlength=\"64\" required>\
             <label for=\"new-mask-{n}\">mask</label><input type=\"text\" id=\"new-mask-{n}\" \
             name=\"mask\" placeholder=\"255.255.0.0 or 16\" maxlength=\"64\">\
             <button type=\"submit\" id=\"replace-{n}\">Replace</button></form>"
        );
    }
    let mine: Vec<&VpnSession> = tunnels.iter().filter(|t| t.profile_number == n).collect();
    b.push_str("<h3>Current tunnels</h3>");
    if mine.is_empty() {
        b.push_str(
            "<p class=\"muted no-tunnels\">None: you are not registered with this VPN now.</p>",
        );
    } else {
        b.push_str(
            "<table class=\"tunnels\"><thead><tr><th>Foreign agent</th><th>Home agent</th>\
             <th>Tunnel</th><th>Path</th><th>SPI up/down</th><th>Since</th><th>Until</th></tr></thead><tbody>",
        );
        for t in mine {
            let path = match t.gw_type {
                GwType::Static => "static gateway: FA–HA, then HA–GW",
                GwType::Dynamic => "dynamic gateway: FA–GW directly",
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{} → {}</td><td>{path}</td><td>{} / {}</td><td>{}</td><td>{}</td></tr>",
                t.fa,
                t.ha,
                t.src_gw,
                t.dst_gw,
                t.up_spi,
                t.down_spi,
                utc(t.created_at),
                utc(t.expires_at)
            );
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("</section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_times_are_utc() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_796_400_045), "2026-12-04 16:00:45 UTC");
    }

    #[test]
    fn pages_are_self_contained() {
        let l = login("tok", "<x>", Some("bad"));
        let p = profiles("a@b.c", "tok", &None, &[], &[], false);
        for page in [&l, &p] {
            for external in [
                "http://", "https://", "src=", "<script", "<link", "@import", "url(",
            ] {
                assert!(!page.contains(external), "the page has {external}");
            }
        }
        assert!(l.contains("value=\"&lt;x&gt;\""));
        assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'none'"));
        assert!(!CONTENT_SECURITY_POLICY.contains("script-src"));
    }
}
