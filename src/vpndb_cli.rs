//! `varouter vpndb`: the VPN database of the mobile VPN (seed 003) from the command line —
//! import and export the whole database (YAML or JSON, the format of `configs/vpndb/users.yaml`),
//! list the profiles, and the two single changes an operator needs (add a destination, mark
//! a profile changed so the next registration re-reads it), and the users' logins to the web
//! page of Fig. 30 (`set-password`, `delete-password`) and their current tunnels
//! (`sessions`). Every change is audited under the `--actor` name. See docs/mobile-vpn.md,
//! "The VPN database" and "The web page".

use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use vpndb::{AddrMask, Nai, VpnDocument, VpnStore};

/// `varouter vpndb ...`.
#[derive(Args)]
pub struct VpndbArgs {
    /// The database: `sqlite:PATH` (created on first use) or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, global = true, default_value = "sqlite:vpndb.sqlite")]
    db: String,
    /// Who makes the change (written in the audit).
    #[arg(long, global = true, default_value = "cli")]
    actor: String,
    #[command(subcommand)]
    cmd: VpndbCmd,
}

#[derive(Subcommand)]
enum VpndbCmd {
    /// Write the SLAs, the CN → GW table and the profiles of a YAML or JSON file (by its
    /// extension; `-` reads YAML from standard input), all or nothing.
    Import {
        /// The file.
        file: PathBuf,
    },
    /// Print the whole database (keys included: protect the output).
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Yaml)]
        format: Format,
    },
    /// One line per profile: number, NAI, SLA, share, destinations, version, mark.
    List {
        /// Only this user's profiles.
        #[arg(long)]
        nai: Option<String>,
    },
    /// Add one destination to a profile (one transaction; raises the version).
    AddDestination {
        /// Profile number.
        profile: u32,
        /// Destination, `A.B.C.D/LEN` or `A.B.C.D/MASK`.
        dest: String,
    },
    /// Mark a profile changed: the next registration re-reads it (Fig. 30).
    MarkChanged {
        /// Profile number.
        profile: u32,
    },
    /// Set a user's password for the web page (Fig. 30): read from standard input (the first
    /// line), stored as an argon2id hash. 8 to 1024 bytes.
    SetPassword {
        /// The user's NAI.
        nai: String,
    },
    /// Remove a user's login to the web page.
    DeletePassword {
        /// The user's NAI.
        nai: String,
    },
    /// The current (not expired) tunnels of a user, as the AAAH recorded them.
    Sessions {
        /// The user's NAI.
        nai: String,
    },
    /// The audit of changes, oldest first.
    Audit {
        /// Only records after this id.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

fn parse_doc(path: &std::path::Path, text: &str) -> Result<VpnDocument, String> {
    let json = path.extension().and_then(|e| e.to_str()) == Some("json");
    let doc: VpnDocument = if json {
        serde_json::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        serde_saphyr::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?
    };
    doc.validate_entries()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(doc)
}

/// Shortest and longest password `set-password` takes.
pub const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 8..=1024;

/// Checks a new password's length (argon2 takes any bytes; the bounds keep a typo and a
/// pasted file out).
pub fn check_password(pw: &str) -> Result<(), String> {
    if pw.is_empty() {
        return Err("no password on standard input".into());
    }
    if !PASSWORD_LEN.contains(&pw.len()) {
        return Err(format!(
            "the password must be {} to {} bytes long, not {}",
            PASSWORD_LEN.start(),
            PASSWORD_LEN.end(),
            pw.len()
        ));
    }
    Ok(())
}

/// Runs one `varouter vpndb` command; the error is the message to print.
pub fn run(a: VpndbArgs) -> Result<(), String> {
    // Parse the input before touching the database: a bad file opens nothing.
    let doc = match &a.cmd {
        VpndbCmd::Import { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
            } else {
                std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?
            };
            Some(parse_doc(file, &text)?)
        }
        _ => None,
    };
    // The password too: read and checked before opening anything.
    let password = match &a.cmd {
        VpndbCmd::SetPassword { .. } => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("stdin: {e}"))?;
            let pw = line.trim_end_matches(['\r', '\n']).to_owned();
            check_password(&pw)?;
            Some(pw)
        }
        _ => None,
    };
    let mut s: Box<dyn VpnStore> = vpndb::open(&a.db).map_err(|e| format!("{}: {e}", a.db))?;
    let e = |e: vpndb::StoreError| e.to_string();
    match a.cmd {
        VpndbCmd::Import { file } => {
            let doc = doc.unwrap_or_default();
            let c = s.import(&a.actor, &doc).map_err(e)?;
            println!(
                "{}: imported {} SLA(s), {} CN-GW row(s), {} profile(s) into {} (schema {})",
                file.display(),
                c.slas,
                c.cn_gw,
                c.profiles,
                s.backend(),
                s.schema_version().map_err(e)?
            );
        }
        VpndbCmd::Export { format } => {
            let doc = s.export().map_err(e)?;
            let out = match format {
                Format::Yaml => serde_saphyr::to_string(&doc).map_err(|e| e.to_string())?,
                Format::Json => {
                    serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())? + "\n"
                }
            };
            print!("{out}");
        }
        VpndbCmd::List { nai } => {
            let ps = match nai {
                Some(n) => {
                    let n = Nai::parse(&n).map_err(|e| e.to_string())?;
                    s.profiles_by_nai(&n).map_err(e)?
                }
                None => s.list_profiles().map_err(e)?,
            };
            println!(
                "{:>7}  {:<28} {:<12} {:<6} {:>7} {:<4} destinations",
                "profile", "nai", "sla", "share", "version", "mark"
            );
            for p in &ps {
                let d: Vec<String> = p
                    .profile
                    .destinations
                    .iter()
                    .map(|d| d.to_string())
                    .collect();
                println!(
                    "{:>7}  {:<28} {:<12} {:<6} {:>7} {:<4} {}",
                    p.profile.profile_number,
                    p.profile.nai,
                    p.profile.sla,
                    match p.profile.vpnshare {
                        vpndb::VpnShare::Shared => "shared",
                        vpndb::VpnShare::Own => "own",
                    },
                    p.version,
                    if p.service_update { "yes" } else { "no" },
                    d.join(",")
                );
            }
            println!("{} profile(s)", ps.len());
        }
        VpndbCmd::AddDestination { profile, dest } => {
            let d: AddrMask = dest.parse().map_err(|e: vpndb::ModelError| e.to_string())?;
            let p = s.add_destination(&a.actor, profile, None, d).map_err(e)?;
            println!(
                "profile {profile}: {} destination(s), version {}",
                p.profile.destinations.len(),
                p.version
            );
        }
        VpndbCmd::MarkChanged { profile } => {
            let p = s.mark_changed(&a.actor, profile).map_err(e)?;
            println!("profile {profile}: version {}, marked", p.version);
        }
        VpndbCmd::SetPassword { nai } => {
            let n = Nai::parse(&nai).map_err(|e| e.to_string())?;
            let pw = password.unwrap_or_default();
            let phc = varouter::mgmt::auth::hash_token(&pw);
            s.set_password(&a.actor, &n, &phc).map_err(e)?;
            println!("{n}: password set");
        }
        VpndbCmd::DeletePassword { nai } => {
            let n = Nai::parse(&nai).map_err(|e| e.to_string())?;
            if !s.delete_password(&a.actor, &n).map_err(e)? {
                return Err(format!("{n} has no login"));
            }
            println!("{n}: login removed");
        }
        VpndbCmd::Sessions { nai } => {
            let n = Nai::parse(&nai).map_err(|e| e.to_string())?;
            let ts = s.sessions_of_nai(&n).map_err(e)?;
            println!(
                "{:>7}  {:<15} {:<15} {:<15} {:<15} {:<7} {:>10} {:>10} {:>10}  session",
                "profile", "fa", "ha", "src_gw", "dst_gw", "gw", "up_spi", "down_spi", "expires"
            );
            for t in &ts {
                println!(
                    "{:>7}  {:<15} {:<15} {:<15} {:<15} {:<7} {:>10} {:>10} {:>10}  {}",
                    t.profile_number,
                    t.fa,
                    t.ha,
                    t.src_gw,
                    t.dst_gw,
                    t.gw_type.as_str(),
                    t.up_spi,
                    t.down_spi,
                    t.expires_at,
                    t.session_id
                );
            }
            println!("{} tunnel(s)", ts.len());
        }
        VpndbCmd::Audit { after, limit } => {
            for r in s.audit(after, limit).map_err(e)? {
                println!(
                    "{} {} {} {} {} {}",
                    r.id, r.at, r.actor, r.action, r.target, r.detail
                );
            }
        }
    }
    Ok(())
}
