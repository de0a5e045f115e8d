use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use deploytui::cli::{Cli, Command};
use deploytui::config::{self, Config, Engine, ThemeName};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "deploytui",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Some(Command::Init {
            repo,
            ssh_config,
            output,
            yes,
            print,
        }) => {
            let options = deploytui::init::Options {
                repo,
                ssh_config,
                output,
                yes,
                print,
            };
            match deploytui::init::run(&options) {
                Ok(code) => ExitCode::from(code),
                Err(e) => fail(&format!("{e:#}")),
            }
        }
        Some(Command::Demo { no_tui, hosts }) => {
            let (_guard, _) = deploytui::logging::init();
            deploytui::runtime::install_panic_logging();
            match deploytui::demo::run(usize::from(hosts), !no_tui) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("{e:#}")),
            }
        }
        Some(Command::Status { hosts, json }) => with_config(cli.config.as_deref(), |config| {
            let selected = deploytui::headless::select_hosts(&config, &hosts)?;
            let report = runtime()?.block_on(deploytui::headless::status(&config, &selected))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                deploytui::headless::print_status(&report, &mut std::io::stdout().lock())?;
            }
            Ok(ExitCode::from(report.exit_code()))
        }),
        Some(Command::Doctor { hosts, json }) => with_config(cli.config.as_deref(), |config| {
            let selected = deploytui::headless::select_hosts(&config, &hosts)?;
            let report =
                runtime()?.block_on(deploytui::headless::doctor::doctor(&config, &selected))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                deploytui::headless::doctor::print(&report, &mut std::io::stdout().lock())?;
            }
            Ok(ExitCode::from(report.exit_code()))
        }),
        Some(Command::Flake { host, json }) => with_config(cli.config.as_deref(), |config| {
            let names: Vec<String> = host.into_iter().collect();
            let selected = deploytui::headless::select_hosts(&config, &names)?;
            if selected.iter().all(|h| h.flake.is_none()) {
                anyhow::bail!("no host here has a `flake` in {}", config.path.display());
            }
            let all = runtime()?.block_on(deploytui::headless::flake(&selected));
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                deploytui::headless::print_flake(&all, &mut std::io::stdout().lock())?;
            }
            let stale = all.hosts.iter().any(|h| {
                h.report
                    .as_ref()
                    .is_some_and(|r| r.problems().next().is_some())
            });
            let broken = all
                .hosts
                .iter()
                .any(|h| h.error.is_some() || h.nix_cannot_read.is_some());
            Ok(if broken {
                ExitCode::FAILURE
            } else if stale {
                ExitCode::from(deploytui::headless::EXIT_STALE)
            } else {
                ExitCode::SUCCESS
            })
        }),
        Some(Command::Restart {
            host,
            unit,
            sudo_password_stdin,
        }) => with_config(cli.config.as_deref(), |config| {
            let selected = deploytui::headless::select_hosts(&config, std::slice::from_ref(&host))?;
            let source = password_source(sudo_password_stdin);
            let ok = runtime()?.block_on(deploytui::headless::restart(
                &config,
                selected[0],
                &unit,
                source,
            ))?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }),
        Some(Command::Deploy {
            hosts,
            action,
            override_inputs,
            json,
            sudo_password_stdin,
        }) => with_config(cli.config.as_deref(), |config| {
            let selected = deploytui::headless::select_hosts(&config, &hosts)?;
            let source = password_source(sudo_password_stdin);
            let how = deploytui::headless::deploy::How {
                action,
                extra_overrides: override_inputs,
                json,
            };
            let code = runtime()?.block_on(deploytui::headless::deploy::deploy(
                &config, &selected, &how, source,
            ))?;
            Ok(ExitCode::from(code))
        }),
        Some(Command::Rollback {
            host,
            to,
            json,
            sudo_password_stdin,
        }) => with_config(cli.config.as_deref(), |config| {
            let selected = deploytui::headless::select_hosts(&config, std::slice::from_ref(&host))?;
            let source = password_source(sudo_password_stdin);
            let code = runtime()?.block_on(deploytui::headless::deploy::rollback(
                &config,
                selected[0],
                to,
                json,
                source,
            ))?;
            Ok(ExitCode::from(code))
        }),
        Some(Command::Check) => match config::load(cli.config.as_deref()) {
            Ok(config) => {
                if print_check(&config) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => fail(&e),
        },
        None => {
            let mut config = match config::load(cli.config.as_deref()) {
                Ok(c) => c,
                Err(e @ config::ConfigError::NotFound { .. }) => match init_first() {
                    Some(Ok(c)) => c,
                    Some(Err(code)) => return code,
                    None => return fail(&e),
                },
                Err(e) => return fail(&e),
            };
            // https://no-color.org: any non-empty value turns colours off.
            if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
                config.theme = ThemeName::Mono;
            }
            let (_guard, log_path) = deploytui::logging::init();
            tracing::info!(config = %config.path.display(), "starting TUI");
            deploytui::runtime::install_panic_logging();
            match deploytui::runtime::run_blocking(config, Vec::new()) {
                Ok(None) => ExitCode::SUCCESS,
                Ok(Some(code)) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("deploytui: {e:#}\n(details in {})", log_path.display());
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// With no config anywhere, inside a git repository, in a terminal: offers
/// what `deploytui init` does, and on a yes the config it wrote. `None`
/// when there is nothing to offer (the not-found error is then said).
fn init_first() -> Option<Result<Config, ExitCode>> {
    use std::io::{BufRead, IsTerminal};
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return None;
    }
    let repo = deploytui::init::repo_of(&std::env::current_dir().ok()?).ok()?;
    eprint!(
        "No deploytui config yet. Look for the hosts of {} and write one (deploytui init)? [Y/n] ",
        repo.display()
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).ok()?;
    if answer.trim().eq_ignore_ascii_case("n") {
        return None;
    }
    let options = deploytui::init::Options {
        repo: Some(repo),
        ..Default::default()
    };
    Some(match deploytui::init::run(&options) {
        Ok(0) => config::load(None).map_err(|e| fail(&e)),
        Ok(code) => Err(ExitCode::from(code)),
        Err(e) => Err(fail(&format!("{e:#}"))),
    })
}

/// Where a headless command reads the sudo password from.
fn password_source(from_stdin: bool) -> deploytui::headless::PasswordSource {
    if from_stdin {
        deploytui::headless::PasswordSource::Stdin
    } else {
        deploytui::headless::PasswordSource::Terminal
    }
}

/// Loads the config and runs `f`; any error is printed and exits 1.
fn with_config(
    path: Option<&std::path::Path>,
    f: impl FnOnce(Config) -> anyhow::Result<ExitCode>,
) -> ExitCode {
    let config = match config::load(path) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let (_guard, _) = deploytui::logging::init();
    match f(config) {
        Ok(code) => code,
        Err(e) => fail(&format!("{e:#}")),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Runtime::new()?)
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("deploytui: {e}");
    ExitCode::FAILURE
}

/// Prints what the config resolved to; false when a host's nixos-rebuild
/// line uses flags this machine's nixos-rebuild lacks (said on stderr).
fn print_check(config: &Config) -> bool {
    let mut fits = true;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "config: {} (found by {})",
        config.path.display(),
        config.found_by
    );
    if let Some(repo) = &config.repo {
        let _ = writeln!(out, "repo:   {}", repo.display());
    }
    let _ = writeln!(out, "hosts:  {}", config.hosts.len());
    for (i, h) in config.hosts.iter().enumerate() {
        let _ = writeln!(out, "\n[{}]", h.name);
        let port = h.port.map(|p| format!(" port {p}")).unwrap_or_default();
        let _ = writeln!(out, "  target    {}{port}", h.target);
        if let Some(f) = &h.flake {
            let _ = writeln!(out, "  flake     {f}");
            if let Some(why) = config::flake_folder_problem(f) {
                fits = false;
                eprintln!(
                    "deploytui: {}: hosts[{i}].flake: {why}",
                    config.path.display()
                );
            }
        }
        let engine = match &h.engine {
            Engine::Native => "native".to_string(),
            Engine::NixosRebuild { command } => {
                format!(
                    "nixos-rebuild: {}",
                    shlex::try_join(command.iter().map(String::as_str)).unwrap_or_default()
                )
            }
        };
        let _ = writeln!(out, "  engine    {engine}");
        if let Engine::NixosRebuild { command } = &h.engine {
            use deploytui::deploy::rebuild;
            let program = command.first().map(String::as_str).unwrap_or_default();
            let found = match rebuild::read_help(program) {
                Err(why) => format!("not known ({why}): its flags are not checked"),
                Ok(help) => {
                    if let Err(why) = rebuild::fits(command, &help) {
                        fits = false;
                        eprintln!(
                            "deploytui: {}: hosts[{i}].rebuild_command: {why}",
                            config.path.display(),
                        );
                    }
                    match help.kind() {
                        Some(rebuild::Kind::Bash) => "the bash one (NixOS 25.05 and before)".into(),
                        Some(rebuild::Kind::Ng) => "nixos-rebuild-ng".into(),
                        None => "not known (its --help is not nixos-rebuild's): its flags are not checked".into(),
                    }
                }
            };
            let _ = writeln!(out, "  nixos-rebuild here: {found}");
        }
        let _ = writeln!(out, "  sudo      {}", config::spelled(&h.sudo));
        let _ = writeln!(out, "  host keys {}", config::spelled(&h.host_key_policy));
        if let Some(k) = &h.known_hosts {
            let _ = writeln!(out, "  known_hosts {}", k.display());
        }
        if let Some(c) = &h.ssh_config {
            let _ = writeln!(out, "  ssh_config {}", c.display());
        }
        if let Some(k) = &h.identity_file {
            let _ = writeln!(out, "  identity  {}", k.display());
        }
        let services = if h.services.is_empty() {
            "(none)".to_string()
        } else {
            h.services.join(", ")
        };
        let _ = writeln!(out, "  services  {services}");
        let _ = writeln!(out, "  overrides {}", h.override_inputs);
    }
    fits
}
